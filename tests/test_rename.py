"""Container.rename on every backend, where POSIX and DAOS differ: a path renamed onto itself
(POSIX: nothing happens; libdfs's dfs_move would punch the file, see tests/fake_dfs/README.md,
"dfs_move") and a directory moved into itself (POSIX: EINVAL; dfs_move would orphan it)."""
import errno

import pytest


def fill(c) -> None:
    c.write("/x/a", b"payload")
    c.write("/x/sub/b", b"inner")


def intact(c) -> bool:
    return c.read("/x/a") == b"payload" and c.read("/x/sub/b") == b"inner"


@pytest.mark.parametrize("src,dst", [("/x/a", "/x/a"), ("/x/./a", "/x/a"), ("x//a", "/x/sub/../a"),
                                     ("/x/sub", "/x/sub/"), ("/x", "/x/../x")])
def test_rename_onto_itself_does_nothing(container, src, dst):
    fill(container)
    container.rename(src, dst)
    assert intact(container)
    assert sorted(container.listdir("/x")) == ["a", "sub"]


def test_rename_onto_itself_of_a_missing_name_says_which(container):
    fill(container)
    with pytest.raises(FileNotFoundError) as e:
        container.rename("/x/nope", "/x/./nope")
    assert e.value.errno == errno.ENOENT and "x/nope" in str(e.value)
    assert intact(container)


def test_rename_onto_itself_in_a_read_only_container_is_refused(backend, container):
    fill(container)
    ro = backend.connect(read_only=True)
    try:
        with pytest.raises(PermissionError):
            ro.rename("/x/a", "/x/a")
    finally:
        ro.close()
    if backend.name == "dfs":
        backend.reset_counters()  # the read-only connection is a second one, on purpose
    assert intact(container)


def test_directory_into_itself_is_refused_and_loses_nothing(container):
    fill(container)
    with pytest.raises(OSError) as e:
        container.rename("/x", "/x/sub/x")
    assert e.value.errno == errno.EINVAL and "/x" in str(e.value)
    assert intact(container)
    assert sorted(container.listdir("/")) == ["x"]
