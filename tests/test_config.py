"""Configuration: TOML + env with nesting, clear errors, and a complete example file."""

from __future__ import annotations

import re
import typing

import pytest

from reelcore.config import ConfigError, Settings, load_settings

from .conftest import REPO


def test_example_config_loads_and_documents_every_setting():
    example = REPO / "config.example.toml"
    s = load_settings(example)
    assert s.model.name == "ViT-B-32" and s.server.host == "127.0.0.1"
    text = example.read_text()
    for section, model in Settings.model_fields.items():
        inner = typing.get_args(model.annotation) or (model.annotation,)
        sub = getattr(inner[0], "model_fields", None)
        keys = sub.keys() if sub else [section]
        for key in keys:
            nested = (typing.get_args(sub[key].annotation) or (sub[key].annotation,)).__getitem__(0) \
                if sub else None
            if sub and hasattr(nested, "model_fields"):  # a sub-section such as [channels.speech]
                assert f"[{section}.{key}]" in text, f"[{section}.{key}] is not in config.example.toml"
                for k in nested.model_fields:
                    assert re.search(rf"^[#\s]*{k}\s*=", text, re.M), f"{section}.{key}.{k} is not documented"
                continue
            assert re.search(rf"^[#\s]*{key}\s*=", text, re.M), f"{section}.{key} is not in config.example.toml"


def test_env_overrides_toml_with_double_underscore_nesting(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nname = "from-toml"\nbatch_size = 8\n')
    monkeypatch.setenv("REELFIND_MODEL__NAME", "from-env")
    s = load_settings(cfg)
    assert s.model.name == "from-env" and s.model.batch_size == 8


def test_reelfind_config_env_var_names_the_file(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'data_dir = "{tmp_path}/d"\n[[roots]]\npath = "/srv/x"\nwatch = "poll"\n')
    monkeypatch.setenv("REELFIND_CONFIG", str(cfg))
    s = load_settings()
    assert s.data_dir == tmp_path / "d" and s.roots[0].effective_stable_seconds == 60.0


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[model]\nbatch_size = "many"\n', "model.batch_size"),
        ('[sampling]\ninterval = -1\n', "sampling.interval"),
        ('[[roots]]\npath = "/x"\nwatch = "inotify"\n', "roots.0.watch"),
        ('[modle]\nname = "x"\n', "modle"),
    ],
)
def test_invalid_values_name_the_offending_key(tmp_path, toml, key):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_settings(cfg)


def test_non_loopback_http_requires_a_token():
    with pytest.raises(ConfigError, match="server.token"):
        load_settings(None, server={"host": "0.0.0.0"})
    assert load_settings(None, server={"host": "0.0.0.0", "token": "s3cret"}).server.token


@pytest.mark.parametrize("token", ["", "   "])
def test_blank_token_is_refused_so_a_network_bind_is_never_open(token, tmp_path):
    # An empty token is falsy: it used to pass the non-loopback check and then switch auth off.
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[server]\nhost = "0.0.0.0"\ntoken = "{token}"\n')
    with pytest.raises(ConfigError, match="server.token"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="server.token"):
        load_settings(None, server={"token": token})


def test_mcp_url_brackets_an_ipv6_host():
    assert load_settings(None, server={"host": "::1"}).mcp_url == "http://[::1]:8765/mcp"
    assert load_settings(None).mcp_url == "http://127.0.0.1:8765/mcp"
