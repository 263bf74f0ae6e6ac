"""MNIST downloads against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from descentlab import data
from descentlab.data import MNIST_FILES, DataError, download, load_mnist, write_idx
from descentlab.data.download import (
    FILES,
    MIRRORS,
    cache_dir,
    download_dataset,
    download_file,
)

GZ_NAMES = [f"{stem}.gz" for stem in MNIST_FILES]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range`` only if ``server.ranges``."""

    def log_message(self, *args: object) -> None:  # keep pytest's output clean
        pass

    def do_GET(self) -> None:
        server = self.server
        folder, _, name = self.path.rpartition("/")
        server.requests.append((name, self.headers.get("Range")))
        body = server.files.get(name) if folder == "/mnist" else None
        if body is None:
            self.send_error(404)
            return
        if server.corrupt.get(name, 0) > 0:  # serve wrong bytes this many times
            server.corrupt[name] -= 1
            body = bytes(b ^ 0xFF for b in body)
        start = 0
        range_header = self.headers.get("Range")
        if server.ranges and range_header and range_header.startswith("bytes="):
            start = int(range_header[len("bytes=") :].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        cut = server.cut.pop(name, None)  # break the connection after this many bytes
        self.wfile.write(payload if cut is None else payload[:cut])


@pytest.fixture
def server(monkeypatch):
    """A threaded HTTP server on 127.0.0.1 with a request log."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.corrupt, httpd.cut = {}, [], {}, {}
    httpd.ranges = True
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/mnist/"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _fixture_files(tmp_path: Path, n_train: int = 50, n_test: int = 20) -> dict[str, bytes]:
    """Small gzipped IDX files with the MNIST names, as bytes."""
    rng = np.random.default_rng(0)
    arrays = [
        rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        (np.arange(n_train) % 10).astype(np.uint8),
        rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        (np.arange(n_test) % 10).astype(np.uint8),
    ]
    source = tmp_path / "source"
    source.mkdir()
    return {
        name: write_idx(source / name, array, gzip=True).read_bytes()
        for name, array in zip(GZ_NAMES, arrays)
    }


def _sums(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}


@pytest.fixture
def served(server, tmp_path):
    server.files = _fixture_files(tmp_path)
    return server


def test_first_download_then_cached_without_requests(served, tmp_path, capsys):
    root = tmp_path / "cache"
    folder = download_dataset("mnist", root, mirror=served.url, checksums=_sums(served.files))
    assert folder == root / "mnist"
    assert sorted(name for name, _ in served.requests) == sorted(GZ_NAMES)
    for name, body in served.files.items():
        assert (folder / name).read_bytes() == body
    assert not list(folder.glob("*.part")) and not list(folder.glob(".*.tmp"))
    assert "downloading" in capsys.readouterr().err
    (Xtr, ytr), (Xte, _) = load_mnist(folder)
    assert Xtr.shape == (50, 784) and Xte.shape == (20, 784)
    np.testing.assert_array_equal(ytr[:12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])

    served.requests.clear()
    again = download_dataset("mnist", root, mirror=served.url, checksums=_sums(served.files))
    assert again == folder and served.requests == []


def test_data_load_downloads_into_descentlab_data(served, tmp_path, monkeypatch):
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("DESCENTLAB_MNIST_MIRROR", served.url)
    for name, digest in _sums(served.files).items():
        monkeypatch.setitem(FILES["mnist"], name, (len(served.files[name]), digest))
    bundle = data.load("mnist", seed=0, val=0.2)
    assert bundle.name == "mnist" and len(bundle.test[1]) == 20 and len(bundle.train[1]) == 40
    assert (tmp_path / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    served.requests.clear()
    assert data.load("mnist:flatten=false", seed=0).train[0].shape[1:] == (28, 28)
    assert served.requests == []


def test_resume_from_truncated_part_with_range(served, tmp_path):
    body = served.files[GZ_NAMES[0]]
    dest = tmp_path / "cache" / GZ_NAMES[0]
    dest.parent.mkdir()
    half = len(body) // 2
    (dest.parent / (dest.name + ".part")).write_bytes(body[:half])
    download_file(
        served.url + GZ_NAMES[0], dest, hashlib.sha256(body).hexdigest(), size=len(body), quiet=True
    )
    assert served.requests == [(GZ_NAMES[0], f"bytes={half}-")]
    assert dest.read_bytes() == body
    assert not (dest.parent / (dest.name + ".part")).exists()


def test_connection_broken_mid_file_resumes(served, tmp_path):
    body = served.files[GZ_NAMES[0]]
    served.cut[GZ_NAMES[0]] = 1000
    dest = tmp_path / GZ_NAMES[0]
    download_file(served.url + GZ_NAMES[0], dest, hashlib.sha256(body).hexdigest(), quiet=True)
    assert served.requests == [(GZ_NAMES[0], None), (GZ_NAMES[0], "bytes=1000-")]
    assert dest.read_bytes() == body


def test_server_without_ranges_starts_over(served, tmp_path):
    served.ranges = False
    body = served.files[GZ_NAMES[2]]
    dest = tmp_path / GZ_NAMES[2]
    (tmp_path / (dest.name + ".part")).write_bytes(body[:100])
    download_file(served.url + GZ_NAMES[2], dest, hashlib.sha256(body).hexdigest(), quiet=True)
    assert served.requests == [(GZ_NAMES[2], "bytes=100-")]  # asked, got a 200 with all
    assert dest.read_bytes() == body


def test_stale_part_failing_checksum_is_redone_from_scratch(served, tmp_path):
    body = served.files[GZ_NAMES[1]]
    dest = tmp_path / GZ_NAMES[1]
    (tmp_path / (dest.name + ".part")).write_bytes(b"\x00" * 64)  # not a prefix of the file
    download_file(served.url + GZ_NAMES[1], dest, hashlib.sha256(body).hexdigest(), quiet=True)
    assert served.requests == [(GZ_NAMES[1], "bytes=64-"), (GZ_NAMES[1], None)]
    assert dest.read_bytes() == body


def test_checksum_mismatch_redone_once(served, tmp_path):
    body = served.files[GZ_NAMES[3]]
    served.corrupt[GZ_NAMES[3]] = 1
    dest = tmp_path / GZ_NAMES[3]
    download_file(served.url + GZ_NAMES[3], dest, hashlib.sha256(body).hexdigest(), quiet=True)
    assert [name for name, _ in served.requests] == [GZ_NAMES[3]] * 2
    assert dest.read_bytes() == body


def test_checksum_failing_twice_raises_and_leaves_nothing(served, tmp_path):
    served.corrupt[GZ_NAMES[3]] = 5
    dest = tmp_path / "cache" / GZ_NAMES[3]
    with pytest.raises(DataError, match="SHA-256") as info:
        download_file(served.url + GZ_NAMES[3], dest, "ab" * 32, quiet=True)
    assert served.url + GZ_NAMES[3] in str(info.value)
    assert len(served.requests) == 2
    assert list(dest.parent.iterdir()) == []


def test_official_size_is_checked(served, tmp_path):
    body = served.files[GZ_NAMES[3]]
    with pytest.raises(DataError, match=f"{len(body)} bytes"):
        download_file(
            served.url + GZ_NAMES[3],
            tmp_path / "x.gz",
            hashlib.sha256(body).hexdigest(),
            size=len(body) + 1,
            quiet=True,
        )


def test_http_error_names_url_and_status(served, tmp_path):
    with pytest.raises(DataError, match="HTTP 404") as info:
        download_dataset(
            "mnist",
            tmp_path,
            mirror=served.url.replace("/mnist/", "/nothing/"),
            checksums={n: "0" * 64 for n in GZ_NAMES},
            quiet=True,
        )
    assert "/nothing/train-images-idx3-ubyte.gz" in str(info.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_error_says_which_files_go_where(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("DESCENTLAB_MNIST_MIRROR", f"http://127.0.0.1:{_closed_port()}/m")
    with pytest.raises(DataError) as info:
        data.load("mnist")
    message = str(info.value)
    assert "\n" not in message and "offline" in message
    assert str(tmp_path / "cache" / "mnist") in message
    for name in GZ_NAMES:
        assert name in message
    assert "DESCENTLAB_DATA" in message
    assert not list((tmp_path / "cache" / "mnist").glob("*"))  # nothing half-written


def test_files_put_there_by_hand_are_used(tmp_path, monkeypatch, make_fake_mnist):
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path))
    make_fake_mnist(tmp_path / "fashion_mnist", n_train=30, n_test=10, gz=False)
    bundle = data.load("fashion_mnist", val=0.0)  # the mirror is unreachable in tests
    assert bundle.name == "fashion-mnist" and len(bundle.train[1]) == 30


def test_download_false_never_fetches(tmp_path, monkeypatch):
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(download=False)


def test_unwritable_cache_folder(tmp_path, served):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="DESCENTLAB_DATA"):
        download_dataset("mnist", blocker, mirror=served.url, checksums=_sums(served.files))


def test_cache_dir_per_platform(monkeypatch, tmp_path):
    home = Path("/home/u")
    root = download._platform_cache_root
    assert root("linux", {}, home) == home / ".cache"
    assert root("linux", {"XDG_CACHE_HOME": "/xdg"}, home) == Path("/xdg")
    assert root("linux", {"XDG_CACHE_HOME": "relative"}, home) == home / ".cache"
    assert root("darwin", {}, home) == home / "Library" / "Caches"
    assert root("win32", {"LOCALAPPDATA": "C:/Users/u/AppData/Local"}, home) == Path(
        "C:/Users/u/AppData/Local"
    )
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("DESCENTLAB_DATA")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache_dir() == tmp_path / "xdg" / "descentlab"


def test_official_table_is_complete():
    assert set(MIRRORS) == set(FILES) == {"mnist", "fashion_mnist"}
    for table in FILES.values():
        assert sorted(table) == sorted(GZ_NAMES)
        for size, digest in table.values():
            assert size > 1000 and len(digest) == 64 and int(digest, 16) >= 0
    with pytest.raises(ValueError, match="cifar"):
        download_dataset("cifar")


def test_official_checksums_match_the_shared_files(fashion_mnist_dir):
    # the shared Fashion-MNIST label files are the official ones (published MD5s)
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        body = (fashion_mnist_dir / name).read_bytes()
        assert (len(body), hashlib.sha256(body).hexdigest()) == FILES["fashion_mnist"][name]


def test_no_test_reaches_the_internet():
    # tests/conftest.py points the mirrors at a closed local port unless a test overrides them
    for variable in download.MIRROR_ENV.values():
        assert os.environ[variable].startswith("http://127.0.0.1")


def test_concurrent_downloads_of_one_data_set_fetch_each_file_once(tmp_path, monkeypatch):
    """A sweep's workers may all ask for MNIST at once: one downloads, the others wait."""
    from descentlab.data import download as dl

    calls: list[str] = []

    def slow_download(url, dest, *args, **kwargs):
        calls.append(Path(dest).name)
        threading.Event().wait(0.05)  # the file appears only when the download is done
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_bytes(b"x")  # stands for a whole, checked file

    monkeypatch.setattr(dl, "download_file", slow_download)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            dl.download_dataset("mnist", tmp_path, quiet=True)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert sorted(calls) == sorted(f"{stem}.gz" for stem in dl.MNIST_FILES)
