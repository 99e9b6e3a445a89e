"""Building hundreds of thousands of small objects at once.

CPython's cyclic garbage collector runs every few hundred allocations, and each run walks the
growing heap: loading a 35,000-VM fleet spends 85 % of its time there. Fleets have no reference
cycles worth collecting during a load, so the collector is paused for its duration.

Once such objects are built and will live as long as the process's work (a fleet loaded by a
command), every later full collection still walks them all: 2-3 s each for the public preset's
250,819 VMs, and re-enabling the collector after a load triggers some at once.
:func:`long_lived` moves what the block built to the collector's permanent generation
(``gc.freeze``), which collections skip; reference counting still frees those objects.
:func:`frozen` does the same for a block (the executor's run), bounding the garbage it holds.
:func:`construct` builds a pydantic model from values valid by construction, as
``model_construct`` does, in a fraction of its time.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic collector inside the block (nested use is fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def long_lived() -> Iterator[None]:
    """Pause the cyclic collector inside the block, then freeze everything alive at its end
    (``gc.freeze``: later collections do not walk it). For a block that builds long-lived
    data, e.g. a fleet loaded by a command. Garbage cycles made inside the block are not
    collected (the block is meant to make none); a collection runs first, while the heap is
    still small, so none made before it are kept either."""
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.collect()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if was_enabled:
            gc.enable()


REFREEZE_GROWTH = 1.0
"""In :func:`frozen`, what the blocks may freeze on top of what was alive at the last walk
of everything, as a share of it, before everything is walked again."""

YOUNG_THRESHOLD = 10_000
"""In :func:`frozen`, the young generation is collected once this many more objects were
made than freed (CPython's default: 700)."""


class _Freeze:
    """What the blocks of :func:`frozen` share (one freeze per process: nested blocks, and
    blocks in several threads, e.g. a worker's region runners)."""

    depth = 0
    """Blocks open."""
    growth = REFREEZE_GROWTH
    """The outermost block's."""
    thresholds = (700, 10, 10)
    """The collector's thresholds before the outermost block."""
    walked = 0
    """Objects frozen at the last walk of everything (or at the outermost block's start)."""
    added = 0
    """Objects frozen since: those that survived each full collection (some freed since)."""
    walking = False
    """Everything is unfrozen, for the next full collection to walk it."""
    long_lived = False
    """Objects were frozen before the outermost block (:func:`long_lived`): the freeze is
    kept at its end."""
    left = 0
    """Objects frozen when the last outermost block ended keeping its freeze (0: it did not,
    or no block has ended): the next block goes on counting from there, adding what it
    freezes as it starts and what was frozen since (net of the frozen objects freed since)."""


_freeze = _Freeze()
_freeze_lock = threading.Lock()


def _after_full_collection(phase: str, info: dict[str, int]) -> None:
    """At the end of a full collection inside a block of :func:`frozen`: freeze what it
    kept, or, once more has been frozen than ``growth`` times what was frozen at the last
    walk of everything, unfreeze everything for the next full collection to walk it."""
    if phase != "stop" or info["generation"] != 2 or _freeze.depth == 0:
        return
    kept = len(gc.get_objects(2))
    if _freeze.walking:
        _freeze.walking, _freeze.walked, _freeze.added = False, kept, 0
        gc.freeze()
    elif _freeze.added + kept > _freeze.growth * _freeze.walked:
        _freeze.walking = True
        gc.unfreeze()
    else:
        _freeze.added += kept
        gc.freeze()


@contextmanager
def frozen(growth: float = REFREEZE_GROWTH) -> Iterator[None]:
    """Inside the block, the cyclic collector skips every object alive at its start
    (``gc.freeze``, no collection first), and what each full collection inside it keeps
    (frozen again as it ends); at its end everything frozen is walked again
    (``gc.unfreeze``), unless long-lived data was frozen before it (then the freeze is kept:
    see below). For a long block of work over data built before it: the executor's run over
    what its load made, and over what the run itself makes and keeps.

    Why each full collection's survivors too: CPython 3.11 starts a full collection when the
    objects that survived since the last one exceed a quarter of those it kept. With the
    load frozen, the run's collections walked everything the run had made and kept, more
    often the fewer they were: the public preset's run made 19 of them, 6.7 s of its 73 s
    of CPU, walking up to 1.4 million objects each (the simulator's jobs, the executor's
    views of VMs). Frozen as they are kept, each full collection walks only what survived
    since the one before.

    What it costs in memory: a reference cycle among frozen objects that becomes garbage
    is not freed while it stays frozen. So the freeze is bounded: once the blocks have
    frozen, since the last walk of everything, more than ``growth`` times the objects
    frozen then (at the outermost block's start, the objects alive then), everything is
    unfrozen and the next full collection walks it all, frees such cycles, and freezes
    what it keeps. At any time the garbage held frozen is therefore at most the garbage
    alive at the block's start (until the first walk) plus ``growth`` times the objects
    alive at the last walk, whatever the block's length: a campaign run for days holds at
    most about twice its live objects, as a process without freezes may hold a quarter
    more. Each walk of everything comes after at least ``growth`` times as many objects
    were frozen, so its cost per object made stays bounded as CPython's own rule's is.
    Reference counting frees every object without a cycle at once, frozen or not.

    The young generation is collected every :data:`YOUNG_THRESHOLD` objects made and not
    freed instead of every 700: a turn's short-lived objects (rows, views, events) are then
    mostly freed before a collection sees them, instead of being walked, kept, and walked
    again by the older generations' collections, and the full collections, started every
    ten of the middle generation's, come less often too (the public run: 4,516 young, 410
    middle and 37 full collections, 5.4 s; with it 202, 18 and 1, 3.7 s). A young garbage
    cycle waits at most that many objects longer to be freed: a bound that does not grow
    with the block's length.

    Blocks nest and may run in several threads at once: they share one freeze, the
    outermost block's ``growth``, and the last to end unfreezes. Each collection's objects
    counted are those ``gc.get_objects(2)`` lists (``gc.get_freeze_count`` walks every
    frozen object) once at the outermost block's start.

    At the outermost block's end, when nothing was frozen before it, every frozen object goes
    back to the oldest generation, which the next full collection walks (time, not memory).
    When something was (the data :func:`long_lived` froze: a loaded fleet, a plan), the
    freeze is kept, and what the block made and still holds is frozen with it (counted as a
    full collection's survivors are): everything stays frozen, as :func:`long_lived` left
    the process, so the full collections after the block (the status a command prints, the
    interpreter's own at exit) do not walk it. Unfrozen, it was walked by each of them (about
    4 s for the public preset's 6.6 million objects); one collection at the block's end, to
    free the cycles it held frozen, cost the run a walk of everything (0.6-0.8 s of the
    enterprise preset's run). The count goes on: the next outermost block adds to what was
    frozen since the last walk of everything what was frozen since this one ended (by
    :func:`long_lived` or by its own freeze), so the bound above holds across blocks as
    within one: a process that runs one block after another (a worker's campaigns) walks
    everything once the blocks together have frozen ``growth`` times what was alive at the
    last walk. A garbage cycle held frozen is freed at that walk, or with the process. Should
    the block end while a walk of everything is due (everything unfrozen, the next full
    collection to walk it), that collection runs at its end and what it keeps is frozen
    again. (Should something else unfreeze everything between the blocks, the next one
    counts from its own start.)"""
    with _freeze_lock:
        _freeze.depth += 1
        if _freeze.depth == 1:
            before = gc.get_freeze_count()
            _freeze.long_lived = before > 0
            gc.freeze()
            count = gc.get_freeze_count()
            if _freeze.left and before:  # the last block's freeze is kept: count on
                _freeze.added += count - before + max(0, before - _freeze.left)
            else:
                _freeze.walked, _freeze.added = count, 0
            _freeze.growth, _freeze.walking = growth, False
            young, middle, old = _freeze.thresholds = gc.get_threshold()
            gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
            gc.callbacks.append(_after_full_collection)
    try:
        yield
    finally:
        with _freeze_lock:
            _freeze.depth -= 1
            if _freeze.depth == 0:
                gc.callbacks.remove(_after_full_collection)
                gc.set_threshold(*_freeze.thresholds)
                _freeze.left = 0
                if not _freeze.long_lived:
                    gc.unfreeze()
                elif _freeze.walking:  # the walk of everything that was due
                    gc.collect()
                    gc.freeze()
                    _freeze.walked = _freeze.left = gc.get_freeze_count()
                    _freeze.added = 0
                else:  # what the block made and keeps since its last full collection too
                    before = gc.get_freeze_count()
                    gc.freeze()
                    _freeze.left = gc.get_freeze_count()
                    _freeze.added += _freeze.left - before


_TEMPLATES: dict[type[BaseModel], tuple[dict[str, Any], frozenset[str]]] = {}


def construct(cls: type[M], **values: Any) -> M:
    """``cls.model_construct(**values)``: a model of values valid by construction, not
    validated, without pydantic's loop over the fields in Python for each model. The
    fields' values are in the model's order, those not given at their defaults, the given
    ones the fields set, as ``model_construct`` leaves them. Per class, once: a dictionary
    of every field in the model's order, each at its default (for frozen models, whose
    defaults are never changed in place), and the required fields; each model's dictionary
    is a copy of it updated with the given values (an update keeps the order of the keys it
    replaces). A required field not given, or a name that is not a field, is a TypeError.

    The public preset's generator builds a million models this way (about 40 % of
    generating it with ``model_construct``), its planner 170,000 migrations."""
    template = _TEMPLATES.get(cls)
    if template is None:
        assert cls.__pydantic_post_init__ is None and not cls.__private_attributes__
        assert cls.model_config.get("extra") != "allow" and not cls.__pydantic_root_model__
        assert cls.model_config.get("frozen"), "its models would share mutable defaults"
        fields = cls.model_fields
        template = _TEMPLATES[cls] = (
            {name: None if field.is_required() else field.get_default(call_default_factory=True)
             for name, field in fields.items()},
            frozenset(name for name, field in fields.items() if field.is_required()))
    defaults, required = template
    fields_of = defaults.copy()
    fields_of.update(values)
    if len(fields_of) != len(defaults) or not required <= values.keys():
        raise TypeError(f"{cls.__name__}: expected its required fields and only fields, got "
                        f"{sorted(values)}")
    model = cls.__new__(cls)
    put = object.__setattr__
    put(model, "__dict__", fields_of)
    put(model, "__pydantic_fields_set__", set(values))
    put(model, "__pydantic_extra__", None)
    put(model, "__pydantic_private__", None)
    return model
