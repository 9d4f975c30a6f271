"""The config file: location, precedence, per-model overrides and one-line errors with lines."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from moa_cli.config import (
    DEFAULT_AGGREGATOR,
    DEFAULT_REFERENCES,
    Config,
    Settings,
    config_path,
    load_config,
)
from moa_cli.errors import ConfigError, UsageError
from moa_cli.request import ModelSpec

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


@pytest.fixture(autouse=True)
def _no_real_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}")


# --- where the file is ------------------------------------------------------------------------


def test_defaults_when_no_config_file_exists(tmp_path: Path) -> None:
    config = load_config(env={"HOME": str(tmp_path)})
    assert config.path is None
    assert config.settings == Settings()
    assert config.resolve() == Settings()
    assert [spec.model for spec in Settings().references] == list(DEFAULT_REFERENCES)
    assert Settings().aggregator == ModelSpec(DEFAULT_AGGREGATOR)


def test_home_config_is_the_fallback_location(tmp_path: Path) -> None:
    assert config_path({"HOME": str(tmp_path)}) == tmp_path / ".config/moa/config.toml"


def test_xdg_config_home_is_used_when_set(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert config_path(env) == tmp_path / "xdg/moa/config.toml"
    (tmp_path / "xdg/moa").mkdir(parents=True)
    (tmp_path / "xdg/moa/config.toml").write_text("layers = 3\n")
    config = load_config(env=env)
    assert config.path == tmp_path / "xdg/moa/config.toml"
    assert config.settings.layers == 3


def test_relative_xdg_config_home_is_ignored(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": "relative/dir"}
    assert config_path(env) == tmp_path / ".config/moa/config.toml"


def test_moa_config_beats_xdg_and_expands_tilde(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MOA_CONFIG": "~/my.toml"}
    assert config_path(env) == tmp_path / "my.toml"
    (tmp_path / "my.toml").write_text("max_tokens = 99\n")
    assert load_config(env=env).settings.max_tokens == 99


def test_missing_file_named_by_moa_config_is_an_error(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "MOA_CONFIG": str(tmp_path / "gone.toml")}
    with pytest.raises(ConfigError, match=r"gone\.toml: config file not found$"):
        load_config(env=env)


def test_missing_file_passed_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "gone.toml", env={})


def test_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError, match=r"dir\.toml: cannot read config file: "):
        load_config(tmp_path / "dir.toml", env={})


def test_path_under_home_is_shown_with_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / ".config/moa/config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("layers = 1\n\n\n\n\n\nbad key = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(env={"HOME": str(tmp_path)})
    assert str(info.value) == (
        "~/.config/moa/config.toml:7: invalid TOML: Expected '=' after a key in a key/value pair"
    )


# --- precedence and shapes --------------------------------------------------------------------


def test_flags_beat_preset_beat_file_beat_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'layers = 2\ntemperature = 0.5\nmax_tokens = 100\n'
        '[presets.p]\ntemperature = 0.9\nmax_tokens = 200\nreferences = ["a/x"]\n',
    )
    config = load_config(path)
    base = config.resolve()
    assert (base.layers, base.temperature, base.max_tokens, base.timeout) == (2, 0.5, 100, 120.0)
    preset = config.resolve("p")
    assert (preset.layers, preset.temperature, preset.max_tokens) == (2, 0.9, 200)
    assert preset.references == (ModelSpec("a/x"),)
    flagged = config.resolve("p", max_tokens=300, references=["b/y", "c/z"], aggregator="d/w")
    assert (flagged.layers, flagged.temperature, flagged.max_tokens) == (2, 0.9, 300)
    assert flagged.references == (ModelSpec("b/y"), ModelSpec("c/z"))
    assert flagged.aggregator == ModelSpec("d/w")


def test_flags_set_to_none_are_ignored(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "layers = 3\nsystem = 'Be brief.'\n"))
    settings = config.resolve(None, layers=None, system=None, references=None, ref_timeout=None)
    assert (settings.layers, settings.system) == (3, "Be brief.")


def test_bad_flag_value_is_a_usage_error_naming_the_flag() -> None:
    with pytest.raises(UsageError, match=r"^'--max-tokens' must be an integer >= 1, not 0$"):
        Config(path=None).resolve(max_tokens=0)
    with pytest.raises(UsageError, match=r"^'--model' must be a non-empty array"):
        Config(path=None).resolve(references=[])
    with pytest.raises(TypeError):
        Config(path=None).resolve(temprature=1.0)


def test_per_reference_overrides_become_model_specs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'references = [\n  "a/one",\n  { model = "a/two", temperature = 0, max_tokens = 64, system = "Terse." },\n]\n'
        'aggregator = { model = "a/agg", temperature = 1 }\n'
        "[presets.tables]\n"
        "[[presets.tables.references]]\nmodel = 'b/one'\nmax_tokens = 10\n"
        "[[presets.tables.references]]\nmodel = 'b/two'\n",
    )
    config = load_config(path)
    assert config.settings.references == (
        ModelSpec("a/one"),
        ModelSpec("a/two", temperature=0.0, max_tokens=64, system="Terse."),
    )
    assert config.settings.aggregator == ModelSpec("a/agg", temperature=1.0)
    assert isinstance(config.settings.aggregator.temperature, float)
    assert config.resolve("tables").references == (ModelSpec("b/one", max_tokens=10), ModelSpec("b/two"))


def test_zero_ref_timeout_and_empty_system_mean_none(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'ref_timeout = 30\nsystem = "x"\n[presets.p]\nref_timeout = 0\nsystem = ""\n'))
    assert (config.settings.ref_timeout, config.settings.system) == (30.0, "x")
    assert (config.resolve("p").ref_timeout, config.resolve("p").system) == (None, None)


def test_unknown_preset_lists_available_presets(tmp_path: Path) -> None:
    path = write(tmp_path, "[presets.fast]\nlayers = 1\n[presets.deep]\nlayers = 3\n")
    with pytest.raises(UsageError) as info:
        load_config(path).resolve("quick")
    assert str(info.value) == f"unknown preset 'quick'; presets in {path}: fast, deep"


def test_unknown_preset_without_presets_points_to_the_example() -> None:
    with pytest.raises(UsageError) as info:
        Config(path=None).resolve("fast")
    assert str(info.value) == "unknown preset 'fast'; no presets defined; see config.example.toml"


# --- errors -----------------------------------------------------------------------------------


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    assert error(tmp_path, 'layers = 1\n\ntemperature 0.5\n') == (
        ":3: invalid TOML: Expected '=' after a key in a key/value pair"
    )


def test_toml_error_at_end_of_file_omits_the_line(tmp_path: Path) -> None:
    assert error(tmp_path, 'references = ["a/b",\n') == ": invalid TOML: Invalid value at end of file"


def test_unknown_key_names_line_and_suggests_spelling(tmp_path: Path) -> None:
    text = "# comment\nlayers = 1\n\ntemprature = 0.5\n"
    assert error(tmp_path, text) == ":4: unknown key 'temprature' (did you mean 'temperature'?)"


def test_unknown_key_without_close_match_lists_the_keys(tmp_path: Path) -> None:
    assert error(tmp_path, "colour = 'red'\n").startswith(
        ":1: unknown key 'colour' (expected one of: references, aggregator, layers,"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "layers = 1\n[presets.fast]\nlayers = 2\nmax_token = 5\n",
            ":4: unknown key 'presets.fast.max_token' (did you mean 'max_tokens'?)",
        ),
        (
            'references = [\n  "a/b",\n  { model = "c/d", temprature = 0.1 },\n]\n',
            ":3: unknown key 'references[1].temprature' (did you mean 'temperature'?)",
        ),
        (
            "[[references]]\nmodel = 'a/b'\n\n[[references]]\nmodel = 'c/d'\nsytem = 'x'\n",
            ":6: unknown key 'references[1].sytem' (did you mean 'system'?)",
        ),
        (
            "[aggregator]\nmodel = 'a/b'\nmax_tokns = 3\n",
            ":3: unknown key 'aggregator.max_tokns' (did you mean 'max_tokens'?)",
        ),
        (
            "[presets]\nfast.layrs = 2\n",
            ":2: unknown key 'presets.fast.layrs' (did you mean 'layers'?)",
        ),
    ],
    ids=["preset", "inline-reference", "reference-table", "aggregator-table", "dotted-preset"],
)
def test_unknown_nested_key_names_the_dotted_key_and_its_line(tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('\n\nlayers = "two"\n', ":3: 'layers' must be an integer from 1 to 8, not \"two\""),
        ("layers = true\n", ":1: 'layers' must be an integer from 1 to 8, not true"),
        ("layers = 1.0\n", ":1: 'layers' must be an integer from 1 to 8, not 1.0"),
        ("max_tokens = 0\n", ":1: 'max_tokens' must be an integer >= 1, not 0"),
        ("temperature = 2.5\n", ":1: 'temperature' must be a number from 0 to 2, not 2.5"),
        ("temperature = nan\n", ":1: 'temperature' must be a number from 0 to 2, not nan"),
        ("timeout = 0\n", ":1: 'timeout' must be a number > 0, not 0"),
        ("ref_timeout = -1\n", ":1: 'ref_timeout' must be a number >= 0, not -1"),
        ("straggler_factor = '1'\n", ":1: 'straggler_factor' must be a number >= 0, not \"1\""),
        ("system = 1\n", ":1: 'system' must be a string, not 1"),
        ("references = []\n", ":1: 'references' must be a non-empty array of model ids or tables, not an empty array"),
        ('references = "a/b"\n', ":1: 'references' must be a non-empty array of model ids or tables, not \"a/b\""),
        ('references = ["a/b",\n  "  "]\n', ":2: 'references[1]' must be a non-empty model id string, not \"  \""),
        ("references = ['a/b', 3]\n", ":1: 'references[1]' must be a model id or a table with a 'model' key, not 3"),
        ("aggregator = { temperature = 1 }\n", ":1: 'aggregator' needs a 'model' key"),
        ("aggregator = ''\n", ":1: 'aggregator' must be a non-empty model id string, not \"\""),
        (
            "[presets.fast]\n\"layers\" = 0\n",
            ":2: 'presets.fast.layers' must be an integer from 1 to 8, not 0",
        ),
        (
            "presets.fast.layers = 'x'\n",
            ":1: 'presets.fast.layers' must be an integer from 1 to 8, not \"x\"",
        ),
        (
            'references = [\n  "a/b",\n  { model = "c/d", temperature = "hot" },\n]\n',
            ":3: 'references[1].temperature' must be a number from 0 to 2, not \"hot\"",
        ),
        (
            "[[presets.x.references]]\nmodel = 'a'\n[[presets.x.references]]\nmodel = 'b'\nmax_tokens = -1\n",
            ":5: 'presets.x.references[1].max_tokens' must be an integer >= 1, not -1",
        ),
        ("presets = 1\n", ":1: 'presets' must be a table of presets, not 1"),
        ("[presets]\nfast = [1]\n", ":2: 'presets.fast' must be a table of settings, not an array"),
        ('[presets."my fast"]\nlayers = 0\n', ":2: 'presets.\"my fast\".layers' must be an integer from 1 to 8, not 0"),
        ("models = 1\n", ":1: 'models' must be a table of models, not 1"),
        ('[models."a/b"]\nrpd = 0\n', ":2: 'models.\"a/b\".rpd' must be an integer >= 1, not 0"),
        ('[models."a/b"]\nprice = [1, 2]\n', ":2: 'models.\"a/b\".price' must be [input, cached input, output] "
         "in US$ per 1M tokens, not an array"),
        ('[models."a/b"]\nreasoning_effort = "max"\n',
         ":2: 'models.\"a/b\".reasoning_effort' must be 'low' or 'medium' or 'high', not \"max\""),
    ],
)
def test_wrong_type_or_range_names_key_line_and_value(tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text) == expected


def test_int_is_accepted_for_float_keys(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, "temperature = 1\ntimeout = 30\nstraggler_factor = 2\n")).settings
    assert (settings.temperature, settings.timeout, settings.straggler_factor) == (1.0, 30.0, 2.0)
    assert all(isinstance(x, float) for x in (settings.temperature, settings.timeout, settings.straggler_factor))


def test_lines_are_found_past_strings_and_comments_that_look_like_toml(tmp_path: Path) -> None:
    text = (
        "# [presets.fake] layers = 0\r\n"
        'system = """\r\n[presets.fake]\r\nlayers = "x" # not a key\r\n"""\r\n'
        "'references' = [ 'a/b', # ] {\r\n  '''c/d''', ]\r\n"
        "[presets.real]  # comment\r\n"
        "aggregator = { model = 'e/f', \"max_tokens\" = 1 }\r\n"
        "layers = 0\r\n"
    )
    assert error(tmp_path, text) == ":10: 'presets.real.layers' must be an integer from 1 to 8, not 0"


# --- the example ------------------------------------------------------------------------------


def test_example_config_loads_and_states_the_defaults() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.path == EXAMPLE
    assert config.settings == Settings()
    assert set(config.presets) == {"fast", "deep"}
    deep = config.resolve("deep")
    assert deep.layers == 2
    assert deep.references[1] == ModelSpec("openai/gpt-oss-20b", temperature=0.9)
    assert deep.aggregator.max_tokens == 8192
    assert config.resolve("fast").references == (
        ModelSpec("openai/gpt-oss-20b", reasoning_effort="low"),
        ModelSpec("qwen/qwen3.8-27b"),
    )


def test_example_config_sets_every_setting() -> None:
    doc = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(doc) - {"presets", "roles"} == {f.name for f in dataclasses.fields(Settings)}


def test_a_declared_provider_joins_the_built_in_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[providers.work]\nbase_url = "https://llm.example.com/v1"\napi_key_env = "WORK_KEY"\n'
        'headers = { "X-Team" = "moa" }\n\n[providers.ollama]\ntimeout = 300\n',
    )
    providers = load_config(path).settings.providers
    work = providers["work"]
    assert (work.base_url, work.key_env, dict(work.headers)) == ("https://llm.example.com/v1", "WORK_KEY", {"X-Team": "moa"})
    assert providers["ollama"].timeout == 300 and providers["ollama"].base_url == "http://localhost:11434/v1"
    assert "groq" in providers


def test_a_new_provider_needs_a_base_url(tmp_path: Path) -> None:
    assert error(tmp_path, '[providers.work]\napi_key_env = "K"\n') == (
        ":1: 'providers.work' needs a 'base_url' key (an OpenAI-compatible endpoint ending in /v1)"
    )


def test_unknown_provider_key_names_its_line(tmp_path: Path) -> None:
    assert error(tmp_path, '[providers.work]\nbase_url = "http://x/v1"\napi_key = "oops"\n') == (
        ":3: unknown key 'providers.work.api_key' (did you mean 'api_key_env'?)"
    )


def test_a_header_must_be_a_string(tmp_path: Path) -> None:
    assert error(tmp_path, '[providers.work]\nbase_url = "http://x/v1"\nheaders = { "X-N" = 3 }\n') == (
        ":3: 'providers.work.headers.X-N' must be a string, not 3"
    )


def test_example_config_roles_load_with_their_presets_and_templates() -> None:
    config = load_config(EXAMPLE)
    reviewer = config.role("reviewer")
    assert reviewer.preset == "deep" and reviewer.apply("diff") == "Review this change:\n\ndiff"
    assert config.resolve(role=reviewer).layers == 2
    assert [spec.model for spec in config.resolve(role=config.role("commit")).references] == [
        "openai/gpt-oss-20b", "qwen/qwen3.8-27b",
    ]
