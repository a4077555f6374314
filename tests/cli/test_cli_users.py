"""``workflows users hash-token`` and ``workflows serve`` with a users file or a trusted
proxy header, in subprocesses."""

from __future__ import annotations

import hashlib

import httpx

from .conftest import Cli, serving


def test_hash_token_prints_the_hash_of_stdin(cli: Cli) -> None:
    result = cli("users", "hash-token", input="s3cret\n")
    assert result.code == 0, result.err
    assert result.out == hashlib.sha256(b"s3cret").hexdigest() + "\n"
    assert cli("users", "hash-token", input="  s3cret").out == result.out


def test_hash_token_refuses_no_token_or_several(cli: Cli) -> None:
    empty = cli("users", "hash-token", input="\n")
    assert empty.code == 2 and empty.err_lines[0].startswith("error: no token on standard input")
    two = cli("users", "hash-token", input="a\nb\n")
    assert two.code == 2 and "more than one line" in two.err


def _users_file(cli: Cli) -> str:
    digest = hashlib.sha256(b"tok-ada").hexdigest()
    (cli.cwd / "users.toml").write_text(
        f'[users.ada]\ntoken_sha256 = "{digest}"\ngroups = ["finance"]\n', encoding="utf-8"
    )
    return "users.toml"


def test_serve_with_a_users_file(cli: Cli) -> None:
    users = _users_file(cli)
    # WORKFLOWS_TOKEN in the environment (serving sets it) gives way to --users
    with serving(cli, "flows:ALL", "--store", cli.store, "--users", users) as url:
        shared = httpx.get(f"{url}/me", headers={"Authorization": "Bearer s3cret"})
        assert shared.status_code == 401
        ada = httpx.get(f"{url}/me", headers={"Authorization": "Bearer tok-ada"})
        assert ada.json() == {"user": "ada", "groups": ["finance"], "admin": False}


def test_serve_behind_a_trusted_proxy(cli: Cli) -> None:
    args = ["--trust-user-header", "X-Remote-User", "--trust-groups-header", "X-Remote-Groups"]
    with serving(cli, "flows:ALL", "--store", cli.store, *args) as url:
        assert httpx.get(f"{url}/me").status_code == 401
        me = httpx.get(f"{url}/me", headers={"X-Remote-User": "bo", "X-Remote-Groups": "admins"})
        assert me.json() == {"user": "bo", "groups": ["admins"], "admin": True}


def test_serve_refuses_auth_options_that_do_not_go_together(cli: Cli) -> None:
    users = _users_file(cli)
    for args, why in (
        (["--token", "t", "--users", users], "--token does not go with --users"),
        (["--users", users, "--trust-user-header", "X-U"], "--users does not go with"),
        (["--trust-groups-header", "X-G"], "--trust-groups-header needs --trust-user-header"),
        (["--trust-user-header", "X U"], "not an HTTP header name"),
    ):
        result = cli("serve", "flows:ALL", "--store", cli.store, *args)
        assert result.code == 2, result.err
        assert why in result.err_lines[0], result.err


def test_serve_names_a_broken_users_file(cli: Cli) -> None:
    (cli.cwd / "users.toml").write_text("[users.ada]\n", encoding="utf-8")
    result = cli("serve", "flows:ALL", "--store", cli.store, "--users", "users.toml")
    assert result.code == 1
    assert result.err_lines == ["error: users file 'users.toml': users.ada has no token_sha256"]
    missing = cli("serve", "flows:ALL", "--store", cli.store, "--users", "nope.toml")
    assert missing.code == 1
    assert missing.err_lines == ["error: users file 'nope.toml': No such file or directory"]
