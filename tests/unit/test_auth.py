"""otelctx.auth and the key-file settings: parsing (every error, with its line), constant-time
lookup, bearer credentials, tenant binding, and how config.load reports a bad key file.

Pure: no server. A key must never appear in an error message, a repr or check-config output.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import otelctx.auth as auth
from otelctx.auth import (
    AuthFailure,
    KeyEntry,
    KeyFileError,
    KeyTable,
    TenantMismatch,
    authenticate,
    bearer_token,
    bind_tenant,
    digest,
    parse_key_file,
)
from otelctx.config import ConfigError, describe, key_file_summary, load

SECRET = "s3cr3t-k3y"


def tenants_by_key(text: str) -> dict[bytes, str | None]:
    return {e.digest: e.tenant for e in parse_key_file(text)}


# --- the file format --------------------------------------------------------------------------


def test_comments_blanks_and_both_forms() -> None:
    text = (
        "# keys of the staging cluster\n"
        "\n"
        "   \n"
        "k3y-acme=acme\n"
        "  k3y-globex :  globex corp  \n"
        "\tk3y-initech = initech\t\n"
        "# k3y-commented=nobody\n"
    )
    entries = parse_key_file(text)
    assert [(e.tenant, e.line) for e in entries] == [
        ("acme", 4), ("globex corp", 5), ("initech", 6),
    ]  # fmt: skip
    assert entries[0].digest == digest("k3y-acme")
    assert entries[1].digest == digest("k3y-globex")
    assert digest("k3y-commented") not in tenants_by_key(text)


@pytest.mark.parametrize(
    ("line", "key", "tenant"),
    [
        ("abc==: acme", "abc==", "acme"),  # base64 padding, colon form
        ("abc== = acme", "abc==", "acme"),  # base64 padding, spaced "="
        ("abc==acme", "abc=", "acme"),  # the last "=" of the run separates
        ("abc=acme=prod", "abc", "acme=prod"),  # a tenant may hold "=" ...
        ("abc: acme:prod", "abc", "acme:prod"),  # ... and ":"
        ("abc=acme # not a comment", "abc", "acme # not a comment"),
        ("a.b_c~d+e/f-g=acme", "a.b_c~d+e/f-g", "acme"),
        ("k=Zürich 东京", "k", "Zürich 东京"),
    ],
)
def test_separator_rules(line: str, key: str, tenant: str) -> None:
    assert tenants_by_key(line) == {digest(key): tenant}


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("=acme\n", 1, "empty key"),
        ("# c\n: acme\n", 2, "empty key"),
        ("k3y=\n", 1, "empty tenant"),
        ("k3y:   \n", 1, "empty tenant"),
        ("k3y acme\n", 1, "expected key=tenant or key: tenant"),
        ("just-a-key\n", 1, "expected key=tenant or key: tenant"),
        ("k#y=acme\n", 1, "expected key=tenant or key: tenant"),
        ("ké=acme\n", 1, "expected key=tenant or key: tenant"),
        ("k3y=acme\x01corp\n", 1, "control or format character"),
        ("k3y=" + "t" * 129 + "\n", 1, "longer than 128"),
        ("k3y = =acme\n", 1, "cannot start with '=' or ':'"),
        ("a=x\nb=y\n\na=z\n", 4, "duplicate key (first on line 1)"),
    ],
)
def test_every_error_names_its_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(KeyFileError) as caught:
        parse_key_file(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert problem in str(caught.value)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n  # and another\n"])
def test_a_file_without_keys_is_an_error(text: str) -> None:
    with pytest.raises(KeyFileError) as caught:
        parse_key_file(text)
    assert caught.value.line == 0
    assert "holds no keys" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        f"{SECRET}=acme\n{SECRET}=globex\n",
        f"{SECRET} acme\n",
        f"{SECRET}=\n",
        f"{SECRET}=bad\x00tenant\n",
    ],
)
def test_errors_never_contain_the_key(text: str) -> None:
    with pytest.raises(KeyFileError) as caught:
        parse_key_file(text)
    assert SECRET not in str(caught.value)


_TOKEN_CHARS = string.ascii_letters + string.digits + "-._~+/"
keys = st.builds(
    lambda body, pad: body + "=" * pad,
    st.text(alphabet=_TOKEN_CHARS, min_size=1, max_size=40),
    st.integers(0, 2),
)
tenant_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=128,
).filter(lambda t: t == t.strip(" \t") and t[0] not in "=:#")


@given(key=keys, tenant=tenant_names)
def test_any_bearer_token_and_tenant_read_back(key: str, tenant: str) -> None:
    for line in (f"{key}: {tenant}", f"{key} = {tenant}", f"{key} : {tenant}"):
        assert tenants_by_key(line) == {digest(key): tenant}, line


# --- lookup -----------------------------------------------------------------------------------


def table() -> KeyTable:
    return KeyTable.build("admin-k3y", parse_key_file("a-k3y=acme\ng-k3y=globex\n"))


def test_lookup_returns_the_bound_tenant() -> None:
    t = table()
    assert len(t) == 3 and t.enabled
    hit = t.lookup(b"a-k3y")
    assert hit is not None and hit.tenant == "acme"
    hit = t.lookup(b"g-k3y")
    assert hit is not None and hit.tenant == "globex"
    admin = t.lookup(b"admin-k3y")
    assert admin is not None and admin.tenant is None  # API_KEY: not bound
    for wrong in (b"", b"a-k3", b"a-k3y ", b"A-K3Y", b"a-k3yy", b"\xff"):
        assert t.lookup(wrong) is None


def test_lookup_compares_with_every_key_whichever_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int]] = []
    real = auth.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    t = table()
    for key in (b"admin-k3y", b"a-k3y", b"g-k3y", b"nobody"):
        calls.clear()
        t.lookup(key)
        # no early exit, and always equal-length digests (no length leak)
        assert calls == [(32, 32)] * 3, key


def test_no_keys_means_authentication_is_off() -> None:
    t = KeyTable.build("", [])
    assert not t.enabled
    assert t.lookup(b"") is None


def test_a_table_refuses_duplicate_keys() -> None:
    with pytest.raises(ValueError):
        KeyTable([KeyEntry(digest("k"), "a"), KeyEntry(digest("k"), "b")])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, AuthFailure.MISSING_HEADER),
        (b"", AuthFailure.MISSING_HEADER),
        (b"   ", AuthFailure.MISSING_HEADER),
        (b"Basic YWxhZGRpbjpvcGVuc2VzYW1l", AuthFailure.BAD_SCHEME),
        (b"Token abc", AuthFailure.BAD_SCHEME),
        (b"Bearerabc", AuthFailure.BAD_SCHEME),
        (b"abc", AuthFailure.BAD_SCHEME),
        (b"Bearer", AuthFailure.BAD_KEY),
        (b"Bearer   ", AuthFailure.BAD_KEY),
        (b"Bearer abc", b"abc"),
        (b"bearer abc", b"abc"),
        (b"BEARER\tabc ", b"abc"),
        (b"  Bearer   abc==  ", b"abc=="),
    ],
)
def test_bearer_token(header: bytes | None, expected: bytes | AuthFailure) -> None:
    assert bearer_token(header) == expected


def test_authenticate() -> None:
    t = table()
    found = authenticate(t, b"Bearer a-k3y")
    assert isinstance(found, KeyEntry) and found.tenant == "acme"
    assert authenticate(t, b"Bearer nope") is AuthFailure.BAD_KEY
    assert authenticate(t, b"Basic a-k3y") is AuthFailure.BAD_SCHEME
    assert authenticate(t, None) is AuthFailure.MISSING_HEADER


def test_bound_tenant_wins() -> None:
    assert bind_tenant("acme", None) == "acme"
    assert bind_tenant("acme", "acme") == "acme"
    with pytest.raises(TenantMismatch):
        bind_tenant("acme", "globex")
    assert bind_tenant(None, "globex") == "globex"
    assert bind_tenant(None, None) is None


# --- config.load ------------------------------------------------------------------------------


def write(tmp_path: Path, content: str | bytes) -> str:
    path = tmp_path / "tenant-keys"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def test_load_reads_the_key_file(tmp_path: Path) -> None:
    path = write(tmp_path, f"{SECRET}-a=acme\n{SECRET}-b: globex\n{SECRET}-c=acme\n")
    settings = load({"API_TENANT_KEYS_FILE": path, "API_KEY": "admin-" + SECRET})
    assert [e.tenant for e in settings.api_tenant_keys] == ["acme", "globex", "acme"]
    assert key_file_summary(settings) == "3 keys for 2 tenants"
    assert SECRET not in repr(settings)
    assert not any(SECRET in value for _, value in describe(settings))
    assert dict(describe(settings))["API_TENANT_KEYS_FILE"] == path
    assert key_file_summary(load({})) is None


def test_load_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfk3y=acme\n")
    assert load({"API_TENANT_KEYS_FILE": path}).api_tenant_keys[0].digest == digest("k3y")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (f"{SECRET}=acme\n{SECRET}=globex\n", ("line 2: duplicate key (first on line 1)",)),
        ("# nothing\n", ("holds no keys",)),
        (f"ok=acme\n{SECRET}\n", ("line 2:", "expected key=tenant")),
        (f"ok=acme\n\n{SECRET}=\n", ("line 3: empty tenant",)),
        (b"ok=acme\nk=\xff\xfe\n", ("line 2: is not UTF-8 text",)),
    ],
)
def test_a_bad_key_file_is_a_one_line_config_error(
    tmp_path: Path, content: str | bytes, fragments: tuple[str, ...]
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ConfigError) as caught:
        load({"API_TENANT_KEYS_FILE": path})
    message = str(caught.value)
    assert message.startswith(f"API_TENANT_KEYS_FILE='{path}'")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert SECRET not in message


@pytest.mark.parametrize("which", ["missing", "directory"])
def test_an_unreadable_key_file_is_a_config_error(tmp_path: Path, which: str) -> None:
    path = tmp_path / "no-such-file" if which == "missing" else tmp_path
    with pytest.raises(ConfigError) as caught:
        load({"API_TENANT_KEYS_FILE": str(path)})
    assert str(caught.value).startswith("API_TENANT_KEYS_FILE=")
    assert "cannot be read" in str(caught.value)


def test_api_key_cannot_also_be_a_tenant_key(tmp_path: Path) -> None:
    path = write(tmp_path, f"other=globex\n{SECRET}=acme\n")
    with pytest.raises(ConfigError) as caught:
        load({"API_TENANT_KEYS_FILE": path, "API_KEY": SECRET})
    message = str(caught.value)
    assert message.startswith("API_KEY=********")
    assert "line 2" in message
    assert SECRET not in message
