"""Files sent by a worker without the server's folders are written only inside output/temp, never over a file."""

from __future__ import annotations

import pytest

from core.folders import Folders, PathEscapeError
from runtime.output_transfer import SavedFile, store_files


@pytest.fixture
def folders(tmp_path):
    made = Folders.under(tmp_path / "server")
    made.create()
    return made


def test_a_sent_file_never_writes_through_a_link_or_over_a_file(folders, tmp_path):
    outside = tmp_path / "outside.png"
    (folders.output_dir / "x_00001_.png").symlink_to(outside)  # dangling: exists() says no
    (folders.output_dir / "x_00002_.png").write_bytes(b"kept")
    renamed = store_files([SavedFile("output", "", "x_00001_.png", b"new")], folders)
    assert renamed == {("output", "", "x_00001_.png"): "x_00003_.png"}
    assert not outside.exists()
    assert (folders.output_dir / "x_00002_.png").read_bytes() == b"kept"
    assert (folders.output_dir / "x_00003_.png").read_bytes() == b"new"


def test_a_sent_file_stays_in_its_folder_whatever_it_is_named(folders, tmp_path):
    renamed = store_files([SavedFile("output", "", "../../evil.png", b"1"), SavedFile("temp", "", "..", b"2"),
                           SavedFile("elsewhere", "", "a.png", b"3")], folders)
    assert (folders.output_dir / "evil.png").read_bytes() == b"1"
    assert renamed[("output", "", "../../evil.png")] == "evil.png"
    assert (folders.temp_dir / renamed[("temp", "", "..")]).read_bytes() == b"2"
    assert (folders.temp_dir / "a.png").read_bytes() == b"3"  # an unknown kind is temp
    assert sorted(path.name for path in tmp_path.iterdir()) == ["server"]
    for subfolder in ("../escape", "/etc", "a/../../escape"):
        with pytest.raises(PathEscapeError):
            store_files([SavedFile("output", subfolder, "a.png", b"4")], folders)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["server"]

