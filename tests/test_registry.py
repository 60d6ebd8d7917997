import dataclasses

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

    with pytest.raises(MetadataError, match="^unknown metadata key 'needs' for encoder 'x'; "
                                            "valid: paper, source, year$"):
        ENCODERS.register("x", paper="-", year=0, needs="-")(int)
    with pytest.raises(MetadataError, match="^unknown metadata key 'source' for decoder 'x'; "
                                            "valid: embed_dim, needs, paper, year$"):
        DECODERS.register("x", source="segbench")(int)
    assert "x" not in ENCODERS and "x" not in DECODERS


def test_a_metadata_value_of_the_wrong_type_is_refused_and_an_int_counts_as_a_float():
    from segbench.models.networks import NETWORKS, NetworkCard

    with pytest.raises(MetadataError, match="^metadata key 'paper_params' for network 'x' must be "
                                            "None, float, int, not str '1.5'$"):
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
