"""Where remote logins live: profiles (not secret) and refresh tokens (secret).

Profiles, in `<config dir>/profiles.toml`::

    default = "work"

    [profiles.work]
    server = "https://agentcost.example.com"
    email = "ana@example.com"

Refresh tokens go to the OS keyring (`keyring`), service "agentcost", username
`"<profile>@<server>"`. When there is no usable keyring backend (the fail or null backend,
a chainer with nothing to chain, or a backend that raises `keyring.errors.KeyringError`),
they go to `<config dir>/credentials.json` instead: written atomically with mode 0600
(a fresh temp file made with O_CREAT|O_EXCL, then `os.replace`), and refused when its mode
lets the group or other users in. `CredentialStore.used_file_fallback` then says so; the
CLI warns (this module prints nothing and imports neither rich nor typer).

Environment overrides, for CI and headless machines (they beat everything stored):

* `AGENTCOST_TOKEN`: a refresh token to use instead of the stored one. The server rotates
  refresh tokens on every use, so the rotated successor is kept in the credential store
  under `"env-<fingerprint of AGENTCOST_TOKEN>@<server>"` and used by the next run that sees
  the same AGENTCOST_TOKEN. Such a token therefore serves ONE machine (or one credential
  store); two machines started with the same value retire each other's token, which the
  server treats as theft and ends the session.
* `AGENTCOST_SERVER`: the server URL, over the profile's.
* `AGENTCOST_PROFILE`: the profile used when no `--profile` is given, over `default` in
  profiles.toml.

Cross-process safety: token rotation is serialised by the client with `exclusive_lock` on
`<config dir>/locks/<profile>.lock`; changes to credentials.json take
`<config dir>/locks/credentials.lock`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import stat
import time
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .. import paths
from ..errors import ConfigError, InvalidInput, NotFound, StoreError

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

SERVICE = "agentcost"
DEFAULT_PROFILE = "default"
DEFAULT_SERVER = "http://127.0.0.1:8787"
ENV_TOKEN = "AGENTCOST_TOKEN"
ENV_SERVER = "AGENTCOST_SERVER"
ENV_PROFILE = "AGENTCOST_PROFILE"
LOCK_TIMEOUT = 60.0

_PROFILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CredentialsBusy(StoreError):
    """Another agentcost process held a credentials lock for too long."""

    title = "credentials busy"


# -- locations ---------------------------------------------------------------------
def profiles_file() -> Path:
    return paths.config_dir() / "profiles.toml"


def credentials_file() -> Path:
    return paths.config_dir() / "credentials.json"


def lock_file(profile: str) -> Path:
    """The lock that serialises refresh-token rotation for one profile, across processes."""
    return paths.config_dir() / "locks" / f"{check_profile_name(profile)}.lock"


@contextmanager
def exclusive_lock(path: Path, *, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created 0600) for the duration of the block.

    The lock belongs to the open file description, so it also serialises threads of one
    process that each enter the block. On systems without `fcntl` nothing is locked.

    Raises:
        CredentialsBusy: the lock was not free within `timeout` seconds.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CredentialsBusy(f"another agentcost process has held {path} for over {timeout:.0f} s",
                                          hint="wait for it to finish, or end it") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# -- names and URLs ----------------------------------------------------------------
def check_profile_name(name: str) -> str:
    if not _PROFILE_RE.match(name or ""):
        raise InvalidInput(f"invalid profile name {name!r}",
                           hint="use letters, digits, '.', '_' and '-' (up to 64, starting with a letter or digit)")
    return name


def normalize_server(url: str) -> str:
    """`scheme://host[:port][/path]` with the scheme and host lower-cased and no trailing slash.

    Raises:
        InvalidInput: not an http:// or https:// URL, or it carries a query, fragment or user info.
    """
    text = (url or "").strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"invalid server URL {url!r}", hint="give it as http(s)://HOST[:PORT], e.g. "
                           f"{DEFAULT_SERVER}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInput(f"invalid server URL {url!r}: no query, fragment or user name please")
    try:
        port = parts.port
    except ValueError:
        raise InvalidInput(f"invalid server URL {url!r}: bad port") from None
    host = parts.hostname.lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def is_loopback(server: str) -> bool:
    host = (urlsplit(server).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_plain_http_remote(server: str) -> bool:
    """True for http:// to anything but this machine: passwords and tokens would cross the network unencrypted."""
    return urlsplit(server).scheme == "http" and not is_loopback(server)


# -- profiles ------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    name: str
    server: str
    email: str | None = None


def _read_profiles() -> tuple[str | None, dict[str, Profile]]:
    path = profiles_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    default = data.get("default")
    table = data.get("profiles", {})
    if (default is not None and not isinstance(default, str)) or not isinstance(table, dict):
        raise ConfigError(f"{path}: expected `default = \"name\"` and [profiles.<name>] tables")
    found: dict[str, Profile] = {}
    for name, body in table.items():
        if not isinstance(body, dict) or not isinstance(body.get("server"), str):
            raise ConfigError(f"{path}: [profiles.{name}] needs server = \"URL\"")
        email = body.get("email")
        found[name] = Profile(name, body["server"], email if isinstance(email, str) and email else None)
    return default, found


def _write_profiles(default: str | None, profiles: Mapping[str, Profile]) -> None:
    import tomli_w

    document: dict[str, Any] = {}
    if default is not None:
        document["default"] = default
    document["profiles"] = {
        p.name: {"server": p.server, **({"email": p.email} if p.email else {})}
        for p in sorted(profiles.values(), key=lambda p: p.name)
    }
    _atomic_write(profiles_file(), tomli_w.dumps(document).encode("utf-8"))


def default_profile_name(environ: Mapping[str, str] | None = None) -> str:
    """AGENTCOST_PROFILE, else `default` from profiles.toml, else "default"."""
    env = os.environ if environ is None else environ
    if env.get(ENV_PROFILE):
        return check_profile_name(env[ENV_PROFILE])
    default, _ = _read_profiles()
    return check_profile_name(default) if default else DEFAULT_PROFILE


def list_profiles() -> list[Profile]:
    """Every saved profile, by name."""
    _, found = _read_profiles()
    return [found[name] for name in sorted(found)]


def get_profile(name: str | None = None) -> Profile | None:
    """The named profile (by default: `default_profile_name()`), or None when it is not saved."""
    _, found = _read_profiles()
    return found.get(name if name is not None else default_profile_name())


def save_profile(name: str, server: str, email: str | None) -> Profile:
    """Create or replace a profile. The first profile saved becomes the default."""
    profile = Profile(check_profile_name(name), normalize_server(server), email or None)
    with exclusive_lock(_profiles_lock()):
        default, found = _read_profiles()
        found[profile.name] = profile
        if default is None or default not in found:
            default = profile.name
        _write_profiles(default, found)
    return profile


def remove_profile(name: str) -> bool:
    """Forget a profile (not its secret: see CredentialStore.delete). False when there was none."""
    with exclusive_lock(_profiles_lock()):
        default, found = _read_profiles()
        if found.pop(name, None) is None:
            return False
        _write_profiles(None if default == name else default, found)
    return True


def set_default(name: str) -> None:
    with exclusive_lock(_profiles_lock()):
        _, found = _read_profiles()
        if name not in found:
            raise NotFound(f"no profile named {name!r}", hint="log in with `agentcost login --profile NAME` first")
        _write_profiles(name, found)


def _profiles_lock() -> Path:
    return paths.config_dir() / "locks" / "profiles.lock"


@dataclass(frozen=True)
class Target:
    """Which login a command uses, after flags, environment and profiles.toml are combined."""

    profile: str
    server: str
    email: str | None
    saved: bool  # the profile exists in profiles.toml
    token_from_env: bool  # AGENTCOST_TOKEN is set


def resolve(profile: str | None = None, server: str | None = None, *,
            environ: Mapping[str, str] | None = None) -> Target:
    """Profile: the flag, else AGENTCOST_PROFILE, else profiles.toml's default, else "default".
    Server: the flag, else AGENTCOST_SERVER, else the profile's, else DEFAULT_SERVER."""
    env = os.environ if environ is None else environ
    name = check_profile_name(profile) if profile else default_profile_name(env)
    saved = get_profile(name)
    url = server or env.get(ENV_SERVER) or (saved.server if saved else DEFAULT_SERVER)
    return Target(name, normalize_server(url), saved.email if saved else None, saved is not None,
                  bool(env.get(ENV_TOKEN)))


# -- secrets ---------------------------------------------------------------------------
def _atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a fresh 0600 temp file and `os.replace` (never a partial file)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)  # os.replace: atomic on POSIX
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink()
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def token_fingerprint(token: str) -> str:
    """A short, non-reversible name for a token (the token itself is never shown or logged)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


class CredentialStore:
    """Refresh tokens by (profile, server): the OS keyring, or a 0600 file when there is none.

    `AGENTCOST_TOKEN` (see the module docstring) takes precedence over what is stored: `get`
    returns its rotated successor when one was saved, else the variable's value; `set` and
    `delete` act on that successor. Pass `use_env=False` to ignore the variable.

    After any call, `used_file_fallback` is True when credentials.json was read or written
    because no usable keyring exists; the CLI tells the user once.
    """

    def __init__(self, *, environ: Mapping[str, str] | None = None, use_env: bool = True,
                 path: Path | None = None) -> None:
        env = os.environ if environ is None else environ
        self.env_token: str | None = ((env.get(ENV_TOKEN) or "").strip() or None) if use_env else None
        self.path = path or credentials_file()
        self.used_file_fallback = False
        self._backend: KeyringBackend | None = None
        self._backend_checked = False

    # -- which backend ------------------------------------------------------------
    def _keyring(self) -> KeyringBackend | None:
        if not self._backend_checked:
            self._backend_checked = True
            self._backend = _usable_keyring()
        return self._backend

    @property
    def uses_keyring(self) -> bool:
        return self._keyring() is not None

    @property
    def backend_name(self) -> str:
        """"keyring (<backend name>)" or "file (<path>)"."""
        backend = self._keyring()
        if backend is None:
            return f"file ({self.path})"
        return f"keyring ({getattr(backend, 'name', type(backend).__name__)})"

    def _keyring_failed(self) -> None:
        """A backend that raised once is not trusted again in this process: the file takes over."""
        self._backend = None

    # -- keys -----------------------------------------------------------------------
    def key(self, profile: str, server: str) -> str:
        server = normalize_server(server)
        if self.env_token:
            return f"env-{token_fingerprint(self.env_token)}@{server}"
        return f"{check_profile_name(profile)}@{server}"

    # -- API --------------------------------------------------------------------------
    def get(self, profile: str, server: str) -> str | None:
        key = self.key(profile, server)
        value = self._keyring_get(key)
        if value is None:
            # Also where a keyring exists: a token saved before it did is still good until replaced.
            value = self._file_entries().get(key)
            if value is not None and self._keyring() is None:
                self.used_file_fallback = True
        if value is None and self.env_token:
            return self.env_token
        return value

    def set(self, profile: str, server: str, token: str) -> None:
        if not token:
            raise ValueError("empty token")
        key = self.key(profile, server)
        if self._keyring_set(key, token):
            self._file_update(key, None)  # a token left there from before a keyring existed
            return
        self._file_update(key, token)
        self.used_file_fallback = True

    def delete(self, profile: str, server: str) -> None:
        key = self.key(profile, server)
        self._keyring_delete(key)
        self._file_update(key, None)

    # -- keyring ------------------------------------------------------------------------
    def _keyring_get(self, key: str) -> str | None:
        from keyring.errors import KeyringError

        backend = self._keyring()
        if backend is None:
            return None
        try:
            return backend.get_password(SERVICE, key)
        except KeyringError:
            self._keyring_failed()
            return None

    def _keyring_set(self, key: str, token: str) -> bool:
        from keyring.errors import KeyringError

        backend = self._keyring()
        if backend is None:
            return False
        try:
            backend.set_password(SERVICE, key, token)
        except KeyringError:
            self._keyring_failed()
            return False
        return True

    def _keyring_delete(self, key: str) -> None:
        from keyring.errors import KeyringError, PasswordDeleteError

        backend = self._keyring()
        if backend is None:
            return
        try:
            backend.delete_password(SERVICE, key)
        except PasswordDeleteError:
            pass  # nothing stored under that name
        except KeyringError:
            self._keyring_failed()

    # -- file ------------------------------------------------------------------------------
    def _file_entries(self) -> dict[str, str]:
        """The tokens in credentials.json ({} when it does not exist); refuses an unsafe file."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror or exc}",
                              hint="it must be a regular file (not a symbolic link) readable by you") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"{self.path} is not a regular file")
            if info.st_mode & 0o077:
                raise ConfigError(
                    f"{self.path} holds login tokens but other users may access it (mode "
                    f"{stat.S_IMODE(info.st_mode):04o}); refusing to use it",
                    hint=f"run `chmod 600 {self.path}`, then `agentcost login` again if the tokens may have leaked")
            raw = handle.read()
        try:
            data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ConfigError(f"{self.path} is damaged (not JSON)",
                              hint=f"delete it and run `agentcost login` again: {self.path}") from None
        tokens = data.get("tokens", {}) if isinstance(data, dict) else None
        if not isinstance(tokens, dict):
            raise ConfigError(f"{self.path} is damaged (no tokens table)",
                              hint=f"delete it and run `agentcost login` again: {self.path}")
        return {str(k): str(v) for k, v in tokens.items() if isinstance(v, str)}

    def _file_update(self, key: str, token: str | None) -> None:
        """Set (or with None, remove) one entry; skips the write when nothing changes."""
        if token is None and not self.path.exists():
            return
        with exclusive_lock(self.path.parent / "locks" / "credentials.lock"):
            entries = self._file_entries()
            if entries.get(key) == token:
                return
            if token is None:
                entries.pop(key, None)
            else:
                entries[key] = token
            if entries:
                _atomic_write(self.path, json.dumps({"version": 1, "tokens": entries}, indent=2).encode("utf-8"))
            else:
                with suppress(FileNotFoundError):
                    self.path.unlink()


def _usable_keyring() -> KeyringBackend | None:
    """The configured keyring backend, or None when it cannot keep a secret."""
    import keyring
    from keyring.backends import chainer, fail, null
    from keyring.errors import KeyringError

    try:
        backend = keyring.get_keyring()
    except KeyringError:
        return None
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend
