"""The plugin's link to the server (ofx_bridge/sss_client.c), compiled alone and called
through ctypes: what it reads from the server's replies and how it compares paths."""

import ctypes
import os
import re
import shutil
import subprocess

import pytest

from ofx_support import REPO
from sss_vfx.ofx import protocol
from sss_vfx.ofx.runtime import private_dir

CC = os.environ.get("CC", "cc")
pytestmark = pytest.mark.skipif(shutil.which(CC) is None, reason="no C compiler")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    library = tmp_path_factory.mktemp("client") / "sss_client.so"
    subprocess.run([CC, "-std=c99", "-fPIC", "-shared", "-o", str(library),
                    str(REPO / "ofx_bridge" / "sss_client.c")], check=True)
    return ctypes.CDLL(str(library))


def json_string(client, text, key):
    out = ctypes.create_string_buffer(256)
    status = client.sss_json_string(text.encode("utf-8"), key.encode(), out, 256)
    return status, out.value.decode("utf-8")


def test_json_strings_decode_unicode_escapes(client):
    # a server that escapes non-ASCII (json.dumps' default) names the same folder
    assert json_string(client, '{"path": "/tmp/cach\\u00eb/\\u20ac"}', "path") == \
        (0, "/tmp/cachë/€")
    assert json_string(client, '{"path": "/tmp/cachë"}', "path") == (0, "/tmp/cachë")
    assert json_string(client, '{"path": "/x\\u00"}', "path")[0] == -1


def test_result_folder_is_compared_resolved(client, tmp_path):
    spool = private_dir(tmp_path / "cachë")
    out = private_dir(spool / "out")
    (out / "r.f32").write_bytes(b"")
    same = client.sss_same_folder
    assert same(str(out / "r.f32").encode(), (str(spool) + "//out/").encode())
    assert not same(str(out / "r.f32").encode(), str(spool).encode())
    assert not same(str(spool / "out" / ".." / "r.f32").encode(), str(out).encode())


def test_message_cap_matches_the_server():
    header = (REPO / "ofx_bridge" / "sss_client.h").read_text()
    shift = int(re.search(r"#define SSS_MAX_MESSAGE \(4 << (\d+)\)", header).group(1))
    assert 4 << shift == protocol.MAX_MESSAGE
    schema = re.search(r'#define SSS_REQUEST_SCHEMA "([^"]+)"', header).group(1)
    assert schema == protocol.REQUEST_SCHEMA
