import dataclasses
import sys

import pytest

from segbench.registry import Card, MetadataError, Registry, UnknownNameError


def test_register_get_and_glob():
    reg: Registry[type] = Registry("widget")

    @reg.register("b_one", year=2020)
    class B:
        pass

    reg.add("a_two", int)
    assert reg.get("b_one") is B
    assert reg.names() == ["a_two", "b_one"]
    assert reg.names("b_*") == ["b_one"]
    assert reg.metadata("b_one") == {"year": 2020}
    assert "a_two" in reg and len(reg) == 2


def test_duplicate_is_an_error():
    reg: Registry[type] = Registry("widget")
    reg.add("x", int)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("x", float)


def test_unknown_name_lists_valid_names_on_one_line():
    reg: Registry[type] = Registry("widget")
    reg.add("alpha", int)
    reg.add("beta", int)
    with pytest.raises(KeyError) as info:
        reg.get("gamma")
    assert isinstance(info.value, UnknownNameError)
    assert str(info.value) == "unknown widget 'gamma'; valid: alpha, beta"


def test_an_unknown_metadata_key_is_a_one_line_error_naming_the_key_and_the_valid_ones():
    reg: Registry[type] = Registry("widget")
    with pytest.raises(MetadataError) as info:
        reg.add("x", int, paper="-", yaer=2020)
    assert str(info.value) == "unknown metadata key 'yaer' for widget 'x'; valid: paper, year"
    assert "x" not in reg, "a refused entry is not registered"


def test_the_built_in_registries_refuse_a_key_of_another_registry_s_card():
    from segbench.models.decoders import DECODERS
    from segbench.models.encoders import ENCODERS

    with pytest.raises(MetadataError, match=r"^unknown metadata key 'needs' for encoder 'x'; "
                                            r"valid: paper, source, year$"):
        ENCODERS.register("x", paper="-", year=0, needs="-")(int)
    with pytest.raises(MetadataError, match=r"^unknown metadata key 'source' for decoder 'x'; "
                                            r"valid: embed_dim, needs, paper, year$"):
        DECODERS.register("x", source="segbench")(int)
    assert "x" not in ENCODERS and "x" not in DECODERS


def test_a_metadata_value_of_the_wrong_type_is_refused_and_an_int_counts_as_a_float():
    from segbench.models.networks import NETWORKS, NetworkCard

    with pytest.raises(MetadataError, match=r"^metadata key 'paper_params' for network 'x' must be "
                                            r"None, float, int, not str '1\.5'$"):
        NETWORKS.add("x", int, paper_params="1.5")
    assert "x" not in NETWORKS
    reg: Registry[type] = Registry("network", NetworkCard)
    reg.add("x", int, paper_params=2)
    assert reg.card("x") == NetworkCard(paper_params=2)


def test_metadata_is_the_card_s_set_fields_and_the_card_is_frozen():
    reg: Registry[type] = Registry("widget")
    reg.add("x", int, paper="p")
    card = reg.card("x")
    assert isinstance(card, Card) and card.year is None
    assert reg.metadata("x") == {"paper": "p"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.paper = "q"  # type: ignore[misc]


def test_temporarily_registers_inside_the_block_only():
    reg: Registry[type] = Registry("widget")
    reg.add("kept", int, year=1)
    with reg.temporarily("extra", float, paper="test") as obj:
        assert obj is float and reg.get("extra") is float
        assert reg.metadata("extra") == {"paper": "test"}
        assert reg.names() == ["extra", "kept"]
    assert reg.names() == ["kept"] and "extra" not in reg
    assert reg.metadata("kept") == {"year": 1}
    reg.add("extra", str)  # the name is free again


def test_temporarily_restores_the_registry_after_an_exception_and_undoes_what_the_block_added():
    reg: Registry[type] = Registry("widget")
    reg.add("kept", int)

    def add_inside_then_fail() -> None:
        with reg.temporarily("extra", float):
            reg.add("added_inside", str)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        add_inside_then_fail()
    assert reg.names() == ["kept"]
    with reg.restoring():
        reg.add("plugin", str)
    assert reg.names() == ["kept"]


def test_temporarily_refuses_a_name_already_registered_and_leaves_the_entry():
    reg: Registry[type] = Registry("widget")
    reg.add("kept", int, year=1)
    with pytest.raises(ValueError, match="already registered"), reg.temporarily("kept", float):
        pass  # pragma: no cover
    assert reg.get("kept") is int and reg.metadata("kept") == {"year": 1}


def test_a_plugin_that_registers_an_unknown_key_fails_at_import_in_one_line(tmp_path, monkeypatch):
    from segbench.models.decoders import DECODERS
    from segbench.plugins import PluginError, load_plugins

    (tmp_path / "typo_plugin.py").write_text(
        "from segbench.models import DECODERS\n"
        "from segbench.models.decoders.skip import SkipNet\n"
        "DECODERS.add('typo_skip', SkipNet, paper='-', year=0, need='-')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "typo_plugin", raising=False)
    with DECODERS.restoring(), pytest.raises(PluginError) as info:
        load_plugins(["typo_plugin"])
    assert str(info.value) == (
        "SEGBENCH_PLUGINS: plugin 'typo_plugin' failed while imported: MetadataError: unknown metadata key "
        "'need' for decoder 'typo_skip'; valid: embed_dim, needs, paper, year"
    )
    assert "typo_skip" not in DECODERS
