"""init/terminate, logging, resource paths, skill config, md5, messages and OBS calls."""
import hashlib
import json
import os

import pytest

import hilens
from hilens import log

ENV = ("HILENS_VERIFY", "HILENS_MODEL_DIR", "HILENS_WORKSPACE", "HILENS_SKILL_CONFIG", "HILENS_OBS_DIR")


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    level = log.get_log_level()
    yield
    hilens.set_log_level(level)
    hilens.terminate()


def test_init_checks_verify(monkeypatch):
    assert hilens.init("hello") == 0
    assert hilens.init("") == 0
    assert hilens.init("x" * 128) == 0
    assert hilens.init("x" * 129) != 0
    monkeypatch.setenv("HILENS_VERIFY", "secret")
    assert hilens.init("hello") != 0
    assert hilens.init("secret") == 0
    with pytest.raises(TypeError):
        hilens.init(123)
    assert hilens.terminate() == 0


def test_log_levels_filter_and_format(capsys):
    hilens.set_log_level(hilens.WARNING)
    hilens.trace("t-msg")
    hilens.debug("d-msg")
    hilens.info("i-msg")
    hilens.warning("w-msg")
    hilens.warn("w2-msg")
    hilens.error("e-msg")
    hilens.fatal("f-msg")
    err = capsys.readouterr().err
    assert "t-msg" not in err and "d-msg" not in err and "i-msg" not in err
    assert "[WARNING][SKILL] w-msg" in err and "w2-msg" in err
    assert "[ERROR][SKILL] e-msg" in err and "[FATAL][SKILL] f-msg" in err
    hilens.set_log_level(hilens.TRACE)
    hilens.trace("t-msg")
    assert "[TRACE][SKILL] t-msg" in capsys.readouterr().err


def test_default_level_is_info(capsys):
    assert log.get_log_level() == hilens.INFO
    hilens.debug("hidden")
    hilens.info("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err and "shown" in err


def test_messages_are_cut_at_255_characters(capsys):
    hilens.info("a" * 254 + "bc" + "d" * 100)
    line = capsys.readouterr().err.strip()
    message = line.split("[INFO][SKILL] ", 1)[1]
    assert message == "a" * 254 + "b"


def test_bad_log_arguments():
    with pytest.raises(ValueError, match="level"):
        hilens.set_log_level(17)
    with pytest.raises(TypeError):
        hilens.info(42)


def test_paths_end_with_slash(tmp_path, monkeypatch):
    assert hilens.get_model_dir() == str(tmp_path) + "/"
    assert hilens.get_workspace_path() == str(tmp_path) + "/"
    monkeypatch.setenv("HILENS_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HILENS_WORKSPACE", str(tmp_path / "ws" / "data"))
    assert hilens.get_model_dir() == str(tmp_path / "models") + "/"
    assert hilens.get_workspace_path() == str(tmp_path / "ws" / "data") + "/"
    assert os.path.isdir(tmp_path / "ws" / "data")
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("HILENS_WORKSPACE", str(tmp_path / "file" / "sub"))
    assert hilens.get_workspace_path() == ""


def test_skill_config(tmp_path, monkeypatch, capsys):
    assert hilens.get_skill_config() is None
    cfg = {"background": {"value": "data/beach.jpg"}, "threshold": {"value": "0.5"}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    monkeypatch.setenv("HILENS_SKILL_CONFIG", str(path))
    got = hilens.get_skill_config()
    assert got["background"]["value"] == "data/beach.jpg" and got == cfg
    for content in ("{not json", "[1, 2]"):
        path.write_text(content)
        capsys.readouterr()
        assert hilens.get_skill_config() is None
        assert "[ERROR][SFW]" in capsys.readouterr().err
    monkeypatch.setenv("HILENS_SKILL_CONFIG", str(tmp_path / "missing.json"))
    assert hilens.get_skill_config() is None
    assert "missing.json" in capsys.readouterr().err


def test_md5_of_file(tmp_path):
    path = tmp_path / "blob.bin"
    data = os.urandom(3 << 20)
    path.write_bytes(data)
    assert hilens.md5_of_file(str(path)) == hashlib.md5(data).hexdigest()
    assert hilens.md5_of_file(str(tmp_path / "nope")) == ""


def test_send_msg(capsys):
    assert hilens.send_msg("Alert", "someone is here") == 0
    assert "someone is here" in capsys.readouterr().err
    assert hilens.send_msg("", "body") != 0


def test_obs_upload_and_download_round_trip(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HILENS_OBS_DIR", str(tmp_path / "bucket"))
    src = tmp_path / "result.json"
    src.write_text('{"a": 1}')
    assert hilens.upload_file_to_obs("out/result.json", str(src), "write") == 0
    assert (tmp_path / "bucket" / "out" / "result.json").read_text() == '{"a": 1}'
    assert hilens.upload_buffer_to_obs("out/log.txt", "one,", "write") == 0
    assert hilens.upload_buffer_to_obs("out/log.txt", b"two", "append") == 0
    assert (tmp_path / "bucket" / "out" / "log.txt").read_bytes() == b"one,two"
    assert "obs://out/log.txt" in capsys.readouterr().err
    url = "https://my-bucket.obs.cn-north-4.myhuaweicloud.com/out/result.json"
    assert hilens.download_from_obs(url, str(tmp_path / "dl")) == 0
    assert (tmp_path / "dl" / "result.json").read_text() == '{"a": 1}'
    # The legacy names still work.
    assert hilens.upload_file("out/copy.json", str(src), "write") == 0
    assert hilens.upload_bufer("out/b.bin", bytearray(b"xy"), "write") == 0


@pytest.mark.parametrize("call", [
    lambda src: hilens.upload_file_to_obs("a//b", src, "write"),
    lambda src: hilens.upload_file_to_obs("/abs/key", src, "write"),
    lambda src: hilens.upload_file_to_obs(".hidden/x", src, "write"),
    lambda src: hilens.upload_file_to_obs("dir./x", src, "write"),
    lambda src: hilens.upload_file_to_obs("k", src, "overwrite"),
    lambda src: hilens.upload_file_to_obs("k", src + ".missing", "write"),
    lambda src: hilens.upload_buffer_to_obs("k", 12345, "write"),
    lambda src: hilens.upload_buffer_to_obs("", "x", "write"),
    lambda src: hilens.download_from_obs("https://b.obs.x.com/none.zip", os.path.dirname(src)),
    lambda src: hilens.download_from_obs(src, "d" * 300),
    lambda src: hilens.download_from_obs("", "dl"),
])
def test_obs_failures_return_non_zero(tmp_path, monkeypatch, call):
    monkeypatch.setenv("HILENS_OBS_DIR", str(tmp_path / "bucket"))
    src = tmp_path / "f.txt"
    src.write_text("x")
    code = call(str(src))
    assert isinstance(code, int) and code != 0


@pytest.mark.parametrize("url", [
    "https://my-bucket.obs.cn-north-4.myhuaweicloud.com/../secret.txt",
    "https://my-bucket.obs.cn-north-4.myhuaweicloud.com/out/../../secret.txt",
    "https://my-bucket.obs.cn-north-4.myhuaweicloud.com/%2e%2e/secret.txt",
    "https://my-bucket.obs.cn-north-4.myhuaweicloud.com/out/..%2f..%2fsecret.txt",
    "obs://my-bucket/./../secret.txt",
])
def test_download_from_obs_refuses_dot_dot_out_of_the_bucket(tmp_path, monkeypatch, capsys, url):
    monkeypatch.setenv("HILENS_OBS_DIR", str(tmp_path / "bucket"))
    (tmp_path / "bucket" / "out").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("outside the bucket")
    code = hilens.download_from_obs(url, str(tmp_path / "dl"))
    assert code == hilens.ErrorCode.INVALID_PARAM
    assert not (tmp_path / "dl" / "secret.txt").exists()
    err = capsys.readouterr().err
    assert "[ERROR]" in err and "'..'" in err and url in err, err


def test_download_from_obs_refuses_a_link_out_of_the_bucket(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HILENS_OBS_DIR", str(tmp_path / "bucket"))
    (tmp_path / "bucket").mkdir()
    (tmp_path / "secret.txt").write_text("outside the bucket")
    os.symlink(str(tmp_path / "secret.txt"), str(tmp_path / "bucket" / "link.txt"))
    url = "https://my-bucket.obs.cn-north-4.myhuaweicloud.com/link.txt"
    assert hilens.download_from_obs(url, str(tmp_path / "dl")) == hilens.ErrorCode.INVALID_PARAM
    assert not (tmp_path / "dl" / "link.txt").exists()
    assert "outside the bucket" in capsys.readouterr().err
    # an object inside the bucket still downloads
    (tmp_path / "bucket" / "ok.txt").write_text("fine")
    assert hilens.download_from_obs(url.replace("link", "ok"), str(tmp_path / "dl")) == 0
    assert (tmp_path / "dl" / "ok.txt").read_text() == "fine"
