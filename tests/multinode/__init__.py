"""Simulated hosts for multi-node tests: network namespaces (simhosts.sh), Open MPI's launch
agent that enters them (rsh_agent.sh), mpirun across them (mpirun.sh), and hosts.py, the
Python side."""
