"""The benchmark harness: everything the benchmarks of workloads/ share, and nothing that knows
one of them.

    cpu        CPU accounting over a process tree, interference of other processes, quiet waits
    stats      summaries of repeated runs and the paired (same-round) ratio
    runner     Arm, Policy and the round-robin runner with its retry policy
    machine    the description of the machine and of the file system under a path
    site       the site settings (a DAOS container and its dfuse mount) and where data goes
    fileset    generated file sets, their reference checksum, page-cache state
    baselines  the C reader (c_reader.c), the reference every read benchmark compares with
    results    result JSON, the marked sections of results/README.md
    tables     the Markdown figures and the summary table shared by every benchmark's tables()
    cli        the options every benchmark shares (--out, --no-readme, the run policy)

A benchmark script imports these modules as `harness.<module>`: a script run as
`python workloads/<script>.py` has workloads/ first on its path.
"""
