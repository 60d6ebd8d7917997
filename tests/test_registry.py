import pytest

from segbench.registry import Registry, UnknownNameError


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
