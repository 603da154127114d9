"""DAOS test double (libdaos.so.2 + libdfs.so in C) with its build and admin helpers.

``from fake_dfs import build, control`` (with ``tests/`` on sys.path) or load the files by path;
do not ``import build`` bare: the ``build`` package of PyPA may be installed.
"""
