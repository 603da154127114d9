"""Named steps of a commit where the crash tests stop the process (tests/test_checkpoint_crash.py).

A test sets ``hook`` (in a child process) to a function that ``os._exit``\\s at one step name;
production code only calls :func:`step`, which costs one global lookup when no hook is set.
"""
from typing import Callable, Optional

hook: Optional[Callable[[str], None]] = None


def step(name: str) -> None:
    if hook is not None:
        hook(name)
