"""auth/credentials.py: profiles.toml, the keyring, the 0600 file fallback and AGENTCOST_TOKEN."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import keyring
import pytest
from keyring.backends import chainer, null

from agentcost_cli import paths
from agentcost_cli.auth import credentials as cr
from agentcost_cli.auth.credentials import CredentialStore
from agentcost_cli.errors import ConfigError, InvalidInput, NotFound

from .keyrings import BrokenKeyring, MemoryKeyring

SERVER = "http://127.0.0.1:8787"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- profiles -------------------------------------------------------------------------------
def test_profiles_round_trip_and_first_one_becomes_default():
    assert cr.list_profiles() == []
    assert cr.get_profile() is None
    cr.save_profile("work", "https://Agentcost.Example.com/", "ana@example.com")
    cr.save_profile("home", "http://localhost:8787", None)
    assert [p.name for p in cr.list_profiles()] == ["home", "work"]
    assert cr.default_profile_name() == "work"
    assert cr.get_profile() == cr.Profile("work", "https://agentcost.example.com", "ana@example.com")
    assert cr.get_profile("home") == cr.Profile("home", "http://localhost:8787", None)

    cr.set_default("home")
    assert cr.get_profile().name == "home"
    text = cr.profiles_file().read_text()
    assert text.startswith('default = "home"')
    assert "[profiles.work]" in text and 'server = "https://agentcost.example.com"' in text

    assert cr.remove_profile("home") is True
    assert cr.remove_profile("home") is False
    assert cr.default_profile_name() == "default"  # the default went with it
    with pytest.raises(NotFound):
        cr.set_default("nope")


def test_profile_from_environment_beats_the_file(monkeypatch):
    cr.save_profile("work", SERVER, "ana@example.com")
    monkeypatch.setenv("AGENTCOST_PROFILE", "ci")
    assert cr.default_profile_name() == "ci"
    target = cr.resolve()
    assert (target.profile, target.server, target.saved) == ("ci", SERVER, False)


def test_resolve_precedence(monkeypatch):
    cr.save_profile("default", "https://a.example", "ana@example.com")
    assert cr.resolve().server == "https://a.example"
    monkeypatch.setenv("AGENTCOST_SERVER", "https://b.example/")
    assert cr.resolve().server == "https://b.example"
    assert cr.resolve(server="https://c.example").server == "https://c.example"
    assert cr.resolve("other").server == "https://b.example"
    monkeypatch.delenv("AGENTCOST_SERVER")
    assert cr.resolve("other").server == cr.DEFAULT_SERVER


@pytest.mark.parametrize("name", ["", "-x", "a/b", "../x", "a b", "x" * 65])
def test_bad_profile_names(name):
    with pytest.raises(InvalidInput):
        cr.save_profile(name, SERVER, None)


@pytest.mark.parametrize(("url", "expected"), [
    ("HTTP://LocalHost:8787/", "http://localhost:8787"),
    ("https://example.com/agentcost/", "https://example.com/agentcost"),
    ("http://[::1]:9000", "http://[::1]:9000"),
])
def test_normalize_server(url, expected):
    assert cr.normalize_server(url) == expected


@pytest.mark.parametrize("url", ["ftp://x", "example.com", "http://", "https://u:p@x.example",
                                 "https://x.example/?a=1", "http://x:99999"])
def test_bad_server_urls(url):
    with pytest.raises(InvalidInput):
        cr.normalize_server(url)


def test_plain_http_is_flagged_only_off_this_machine():
    assert not cr.is_plain_http_remote("http://127.0.0.1:8787")
    assert not cr.is_plain_http_remote("http://localhost:1")
    assert not cr.is_plain_http_remote("http://[::1]:1")
    assert cr.is_plain_http_remote("http://agentcost.example.com")
    assert not cr.is_plain_http_remote("https://agentcost.example.com")


def test_damaged_profiles_file_is_a_config_error():
    cr.profiles_file().parent.mkdir(parents=True)
    cr.profiles_file().write_text("default = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        cr.list_profiles()


# -- keyring ---------------------------------------------------------------------------------
def test_keyring_backend_keeps_the_secret_and_no_file_is_written(memory_keyring):
    store = CredentialStore()
    assert store.uses_keyring and store.backend_name.startswith("keyring (")
    store.set("work", "https://Agentcost.example.com/", "rt-1")
    assert memory_keyring.items == {("agentcost", "work@https://agentcost.example.com"): "rt-1"}
    assert store.get("work", "https://agentcost.example.com") == "rt-1"
    assert store.get("work", "https://other.example") is None
    assert not cr.credentials_file().exists()
    assert store.used_file_fallback is False
    store.delete("work", "https://agentcost.example.com")
    store.delete("work", "https://agentcost.example.com")  # twice is fine
    assert memory_keyring.items == {}


@pytest.mark.parametrize("backend", [null.Keyring, "chainer-without-backends"])
def test_backends_that_cannot_keep_secrets_fall_back_to_the_file(backend, monkeypatch):
    if backend == "chainer-without-backends":
        monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
        keyring.set_keyring(chainer.ChainerBackend())
    else:
        keyring.set_keyring(backend())
    store = CredentialStore()
    assert not store.uses_keyring
    store.set("default", SERVER, "rt-1")
    assert store.used_file_fallback
    assert CredentialStore().get("default", SERVER) == "rt-1"


def test_a_raising_keyring_falls_back_to_the_file():
    keyring.set_keyring(BrokenKeyring())
    store = CredentialStore()
    store.set("default", SERVER, "rt-1")
    assert store.used_file_fallback and not store.uses_keyring
    assert CredentialStore().get("default", SERVER) == "rt-1"
    CredentialStore().delete("default", SERVER)
    assert CredentialStore().get("default", SERVER) is None


def test_a_token_left_in_the_file_moves_to_the_keyring_when_one_appears(memory_keyring):
    keyring.set_keyring(null.Keyring())
    CredentialStore().set("default", SERVER, "rt-old")
    keyring.set_keyring(memory_keyring)
    store = CredentialStore()
    assert store.get("default", SERVER) == "rt-old"
    store.set("default", SERVER, "rt-new")
    assert memory_keyring.items[("agentcost", f"default@{SERVER}")] == "rt-new"
    assert not cr.credentials_file().exists()  # the last entry left, so the file went too


# -- the file fallback ------------------------------------------------------------------------
def test_file_fallback_is_0600_json_written_atomically():
    store = CredentialStore()  # the autouse fixture leaves only keyring's fail backend
    assert store.backend_name == f"file ({cr.credentials_file()})"
    store.set("default", SERVER, "rt-1")
    store.set("work", "https://x.example", "rt-2")
    path = cr.credentials_file()
    assert mode(path) == 0o600
    assert json.loads(path.read_text()) == {"version": 1, "tokens": {
        f"default@{SERVER}": "rt-1", "work@https://x.example": "rt-2"}}
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    store.delete("default", SERVER)
    store.delete("work", "https://x.example")
    assert not path.exists()


def test_file_fallback_is_0600_even_with_a_permissive_umask():
    previous = os.umask(0)
    try:
        CredentialStore().set("default", SERVER, "rt-1")
    finally:
        os.umask(previous)
    assert mode(cr.credentials_file()) == 0o600


@pytest.mark.parametrize("bits", [0o640, 0o604, 0o660])
def test_a_file_others_can_access_is_refused(bits):
    CredentialStore().set("default", SERVER, "rt-1")
    path = cr.credentials_file()
    path.chmod(bits)
    with pytest.raises(ConfigError) as caught:
        CredentialStore().get("default", SERVER)
    assert "chmod 600" in (caught.value.hint or "")
    with pytest.raises(ConfigError):
        CredentialStore().set("default", SERVER, "rt-2")


def test_a_symlinked_credentials_file_is_refused(tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text('{"version": 1, "tokens": {}}')
    target.chmod(0o600)
    cr.credentials_file().parent.mkdir(parents=True)
    cr.credentials_file().symlink_to(target)
    with pytest.raises(ConfigError, match="cannot read"):
        CredentialStore().get("default", SERVER)


def test_a_damaged_file_is_a_config_error():
    path = cr.credentials_file()
    path.parent.mkdir(parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"{not json")
    os.close(fd)
    with pytest.raises(ConfigError, match="damaged"):
        CredentialStore().get("default", SERVER)


def test_concurrent_writers_to_the_file_lose_nothing():
    def write(i: int) -> None:
        CredentialStore().set(f"p{i}", SERVER, f"rt-{i}")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {CredentialStore().get(f"p{i}", SERVER) for i in range(12)} == {f"rt-{i}" for i in range(12)}


# -- AGENTCOST_TOKEN ----------------------------------------------------------------------------
def test_env_token_wins_and_its_successor_is_kept_apart(monkeypatch, memory_keyring):
    CredentialStore().set("default", SERVER, "rt-stored")
    monkeypatch.setenv("AGENTCOST_TOKEN", "rt-env")
    store = CredentialStore()
    assert store.get("default", SERVER) == "rt-env"
    store.set("default", SERVER, "rt-env-2")  # what a refresh does
    assert CredentialStore().get("default", SERVER) == "rt-env-2"
    assert CredentialStore().get("anything", SERVER) == "rt-env-2"  # the variable names the login, not the profile
    # The profile's own login is untouched, and a new AGENTCOST_TOKEN starts a new chain.
    assert CredentialStore(use_env=False).get("default", SERVER) == "rt-stored"
    monkeypatch.setenv("AGENTCOST_TOKEN", "rt-other")
    assert CredentialStore().get("default", SERVER) == "rt-other"
    keys = {k[1] for k in memory_keyring.items}
    assert keys == {f"default@{SERVER}", f"env-{cr.token_fingerprint('rt-env')}@{SERVER}"}
    assert not any("rt-env" in k for k in keys)


# -- locks --------------------------------------------------------------------------------------
def test_exclusive_lock_serialises_processes(tmp_path):
    lock = cr.lock_file("default")
    script = (f"import sys; sys.path.insert(0, {str(Path.cwd())!r})\n"
              "from pathlib import Path\nfrom agentcost_cli.auth.credentials import exclusive_lock, CredentialsBusy\n"
              f"try:\n    with exclusive_lock(Path({str(lock)!r}), timeout=0.2):\n        print('got it')\n"
              "except CredentialsBusy:\n    print('busy')\n")
    with cr.exclusive_lock(lock):
        held = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    free = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert (held.stdout.strip(), free.stdout.strip()) == ("busy", "got it")
    assert mode(lock) == 0o600
    assert lock.parent == paths.config_dir() / "locks"


def test_lock_file_names_are_checked():
    with pytest.raises(InvalidInput):
        cr.lock_file("../../etc/passwd")


def test_the_credentials_module_imports_no_ui_or_keyring_at_import():
    code = ("import sys, agentcost_cli.auth.credentials as c\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'typer', 'click', 'keyring', 'httpx'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert MemoryKeyring  # imported for the fixtures' sake
