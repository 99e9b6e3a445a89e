"""Building long-lived objects: the collector paused, then what was built frozen; what is alive
at the start of a block frozen for its length; models built without validation."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ConfigDict

from hvroll.bulk import YOUNG_THRESHOLD, _freeze, construct, frozen, long_lived, paused_gc


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector enabled and nothing frozen, as before the test afterwards."""
    was_enabled = gc.isenabled()
    gc.unfreeze()
    _freeze.left = 0
    gc.enable()
    yield
    gc.unfreeze()
    _freeze.left = 0
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_what_the_block_built_is_frozen_and_the_collector_enabled_again(collector: None) -> None:
    with long_lived():
        assert not gc.isenabled()
        built = [[n] for n in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)


def test_a_paused_collector_stays_paused(collector: None) -> None:
    with paused_gc(), long_lived():
        pass
    assert gc.isenabled()
    gc.disable()
    with long_lived():
        pass
    assert not gc.isenabled()


def test_nothing_is_frozen_when_the_block_fails(collector: None) -> None:
    with pytest.raises(ValueError), long_lived():
        raise ValueError
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


class _Node:
    """A reference cycle's member that says when it is freed."""

    def __init__(self, freed: list[str]) -> None:
        self.me = self
        self.freed = freed

    def __del__(self) -> None:
        self.freed.append("freed")


def test_what_was_alive_is_frozen_for_the_block_and_walked_again_after_it(
        collector: None) -> None:
    """A cycle alive at the start of the block and dropped inside it is not collected in the
    block, and is at the first full collection after it; nothing stays frozen."""
    freed: list[str] = []
    node = _Node(freed)
    with frozen():
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert freed == []
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert freed == ["freed"]


def test_what_a_full_collection_in_the_block_keeps_is_frozen_with_it(collector: None) -> None:
    """A cycle made in the block, kept by a full collection and then dropped, is held while
    frozen (the block has frozen little since its start) and freed after the block."""
    freed: list[str] = []
    with frozen():
        node = _Node(freed)
        gc.collect()
        del node
        gc.collect()
        assert freed == []
    gc.collect()
    assert freed == ["freed"]


def test_a_cycle_frozen_in_the_block_is_freed_once_the_block_has_frozen_more_than_growth(
        collector: None) -> None:
    """Once more than ``growth`` times what was frozen at the start has been frozen since,
    everything is walked again: the cycle is freed inside the block."""
    freed: list[str] = []
    with frozen(growth=0.1):
        at_start = gc.get_freeze_count()
        node = _Node(freed)
        gc.collect()
        del node
        gc.collect()
        assert freed == []
        kept = [[n] for n in range(at_start // 10 + 1)]
        gc.collect()  # kept is frozen: more than a tenth of at_start since the start
        gc.collect()  # everything walked
        assert freed == ["freed"]
        assert gc.get_freeze_count() >= len(kept)  # and frozen again


class _Counted:
    """A reference cycle's member that counts those alive."""

    alive = 0

    def __init__(self) -> None:
        self.me = self
        _Counted.alive += 1

    def __del__(self) -> None:
        _Counted.alive -= 1


def test_what_a_long_block_holds_frozen_stays_bounded(collector: None) -> None:
    """Rounds of cycles, each kept by a full collection, then dropped: far more are made
    than the bound, and those alive at any time stay within it (what was frozen at the
    last walk of everything, times ``growth``, and a round). Without walking everything
    again, every one of them would stay frozen to the block's end."""
    growth, held = 0.05, 0
    with frozen(growth=growth):
        at_start = gc.get_freeze_count()
        size = max(100, int(growth * at_start / 4))
        for _ in range(40):
            made = [_Counted() for _ in range(size)]
            gc.collect()
            del made
            held = max(held, _Counted.alive)
    gc.collect()
    assert 40 * size > 4 * (growth * at_start + size)
    assert held <= 2 * (growth * at_start + size)
    assert _Counted.alive == 0


def test_young_cycles_made_in_the_block_are_freed_in_it(collector: None) -> None:
    """The young generation is collected less often in the block, not never: cycles made
    and dropped at once stay within a young collection's worth; the thresholds are put
    back after."""
    before = gc.get_threshold()
    held = 0
    with frozen():
        assert gc.get_threshold()[0] >= YOUNG_THRESHOLD
        for _ in range(5 * YOUNG_THRESHOLD):
            _Counted()
            held = max(held, _Counted.alive)
    assert held <= 2 * YOUNG_THRESHOLD
    assert gc.get_threshold() == before


def test_what_long_lived_froze_is_frozen_again_after_the_block(collector: None) -> None:
    """With data frozen before the block (:func:`long_lived`), the block ends frozen as it
    found the process, with what it made and holds: none of it is in a generation the
    collections after the block (a status printed, the interpreter's at exit) walk."""
    with long_lived():
        built = [[n] for n in range(1000)]
    with frozen():
        made = [[n] for n in range(10)]
    walked = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
    assert not any(id(o) in walked for o in built + made)
    assert gc.get_freeze_count() >= len(built) + len(made)


def test_with_long_lived_data_the_block_keeps_its_freeze(collector: None) -> None:
    """A cycle the block kept frozen and that was dropped inside it stays frozen after the
    block, with data frozen before it: its end walks nothing, nor do later collections."""
    freed: list[str] = []
    with long_lived():
        built = [[n] for n in range(1000)]
    with frozen():
        node = _Node(freed)
        gc.collect()
        del node
        gc.collect()
    gc.collect()
    assert freed == []
    assert gc.get_freeze_count() >= len(built)


def test_the_next_block_counts_on_from_where_the_last_kept_its_freeze(collector: None) -> None:
    """What two blocks froze together counts towards walking everything again: here neither
    block alone froze a tenth of what was alive at the first one's start, both together
    did, and the cycle the first held frozen is freed in the second."""
    freed: list[str] = []
    with long_lived():
        built = [[n] for n in range(1000)]
    with frozen(growth=0.1):
        at_start = gc.get_freeze_count()
        node = _Node(freed)
        first = [[n] for n in range(at_start // 16)]
        gc.collect()
        del node
    assert freed == []
    with frozen(growth=0.1):
        second = [[n] for n in range(at_start // 16)]
        gc.collect()  # both blocks' together: more than a tenth
        gc.collect()  # everything walked
        assert freed == ["freed"]
    assert gc.get_freeze_count() >= len(built) + len(first) + len(second)


def test_a_block_that_ends_with_a_walk_due_walks_as_it_ends(collector: None) -> None:
    """With data frozen before it, a block that ends after deciding to walk everything, before
    the collection that does it, runs that collection at its end and freezes what it keeps."""
    freed: list[str] = []
    with long_lived():
        built = [[n] for n in range(1000)]
    with frozen(growth=0.1):
        at_start = gc.get_freeze_count()
        node = _Node(freed)
        gc.collect()
        del node
        kept = [[n] for n in range(at_start // 10 + 1)]
        gc.collect()  # more than a tenth frozen: everything unfrozen for the next walk
        assert freed == []
    assert freed == ["freed"]
    oldest = {id(o) for o in gc.get_objects(2)}
    assert not any(id(o) in oldest for o in built + kept)


def test_what_blocks_one_after_another_hold_frozen_stays_bounded(collector: None) -> None:
    """Blocks one after another with data frozen before them (a worker's campaigns), each
    making rounds of cycles kept by a full collection and then dropped: those alive at any
    time stay within the bound, as within one block. Were each block to count from its own
    start, they would pile up, each block frozen while still under its own bound."""
    with long_lived():
        built = [[n] for n in range(1000)]
    growth, held = 0.05, 0
    at_start = gc.get_freeze_count()
    size = max(100, int(growth * at_start / 4))
    for _ in range(40):
        with frozen(growth=growth):
            made = [_Counted() for _ in range(size)]
            gc.collect()
            del made
            held = max(held, _Counted.alive)
    assert 40 * size > 4 * (growth * at_start + size)
    assert held <= 2 * (growth * at_start + size) + size
    assert built


def test_blocks_nest_and_the_last_to_end_unfreezes(collector: None) -> None:
    with frozen():
        with frozen():
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_nothing_stays_frozen_when_the_block_fails(collector: None) -> None:
    with pytest.raises(ValueError), frozen():
        raise ValueError
    assert gc.get_freeze_count() == 0


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)
    a: int
    b: tuple[str, ...] = ()
    c: str = "c"


def test_construct_is_model_construct() -> None:
    """The same fields, in the model's order, the same fields set, no validation."""
    made = construct(_Model, c="x", a=1)
    assert made == _Model.model_construct(c="x", a=1) == _Model(a=1, c="x")
    assert list(vars(made)) == ["a", "b", "c"]
    assert made.model_fields_set == {"a", "c"}
    assert construct(_Model, a="not an int").a == "not an int"


@pytest.mark.parametrize("values", [{"b": ("x",)}, {"a": 1, "d": 2}])
def test_construct_refuses_a_missing_required_field_or_a_name_that_is_no_field(
        values: dict[str, object]) -> None:
    with pytest.raises(TypeError, match=r"_Model: expected its required fields and only "
                                        r"fields, got \["):
        construct(_Model, **values)


def test_construct_refuses_a_model_that_is_not_frozen() -> None:
    """Its models would share one list as their default."""
    class Mutable(BaseModel):
        items: list[str] = []

    with pytest.raises(AssertionError, match="share mutable defaults"):
        construct(Mutable)
