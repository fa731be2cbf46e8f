"""The bootstrapper's index helpers answer exactly what the scans they replace answered."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.bootstrap.lookup import ClaimedPoints, LastByKey


def _brute_last(items: list[tuple[int, str]], ok) -> str | None:
    prior = [(k, x) for k, x in items if ok(k)]
    return max(prior, key=lambda p: p[0])[1] if prior else None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "move", "at_most", "below"]), st.integers(0, 30), st.integers(0, 30)),
                max_size=60))
def test_last_by_key_matches_max_over_a_scan(ops) -> None:
    index: LastByKey[str] = LastByKey()
    items: list[list] = []  # [key, name] in order of addition; keys move like a candidate's end
    for op, a, b in ops:
        if op == "add":
            items.append([a, f"x{len(items)}"])
            assert index.add(a, items[-1][1]) == len(items) - 1
        elif op == "move" and items:
            h = b % len(items)
            items[h][0] = a
            index.move(h, a)
        elif op == "at_most":
            assert index.last_at_most(a) == _brute_last([(k, x) for k, x in items], lambda k: k <= a)
        elif op == "below":
            assert index.last_below(a) == _brute_last([(k, x) for k, x in items], lambda k: k < a)


def test_last_by_key_ties_go_to_the_first_added() -> None:
    index: LastByKey[str] = LastByKey()
    for key, name in ((5, "a"), (7, "b"), (7, "c"), (3, "d")):
        index.add(key, name)
    assert index.last_at_most(7) == "b"
    assert index.last_below(7) == "a"
    assert index.last_below(3) is None
    index.move(1, 9)  # "b" moves past 7: "c" is now the last at most 7
    assert index.last_at_most(8) == "c"
    assert index.last_at_most(9) == "b"


def test_claimed_points_match_any_over_the_claims() -> None:
    rng = random.Random(7)
    for _ in range(300):
        points = [rng.randrange(40) for _ in range(rng.randrange(1, 15))]
        index = ClaimedPoints(points)
        claims: list[tuple[int, int]] = []
        for _ in range(rng.randrange(12)):
            if rng.random() < 0.5:
                s = rng.randrange(40)
                e = s + rng.randrange(-2, 20)  # empty and reversed spans claim nothing
                claims.append((s, e))
                index.claim(s, e)
            for x in points:
                assert index.claimed(x) == any(s <= x < e for s, e in claims)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5)), max_size=12))
def test_offset_map_indexes_like_the_list_of_kept_positions(runs) -> None:
    from bisect import bisect_left

    from khabar.bootstrap.text import OffsetMap

    offsets = OffsetMap()
    brute: list[int] = []
    pos = 0
    for kept, length in runs:  # alternating kept and deleted stretches of the original
        if kept:
            offsets.add_run(pos, pos + length)
            brute.extend(range(pos, pos + length))
        pos += length
    assert len(offsets) == len(brute)
    for i in range(-len(brute), len(brute)):
        assert offsets[i] == brute[i]
    for index in range(pos + 2):
        assert offsets.first_at_or_after(index) == bisect_left(brute, index)


def test_key_text_maps_diacritics_back() -> None:
    from khabar.bootstrap.text import KeyText

    text = "قالَ الوزيرُ: «إنّ الوضعَ صعبٌ»"
    kt = KeyText.build(text)
    assert kt.key == "قال الوزير: «ان الوضع صعب»"
    words = [kt.original_text(i, i + 1) for i, t in enumerate(kt.tokens) if t.is_word]
    assert words == ["قالَ", "الوزيرُ", "إنّ", "الوضعَ", "صعبٌ"]
    assert kt.from_original(text.index("الوزير")) == kt.key.index("الوزير")


def _resolver_after_an_article():
    from pathlib import Path

    from khabar.bootstrap import Bootstrapper

    seed = Path(__file__).resolve().parents[1] / "seeds" / "000_777ec913e064ed28.txt"
    text = seed.read_text(encoding="utf-8") if seed.is_file() else ""
    text += "\nوقال الرئيس الأمريكي دونالد ترامب إن الاتفاق سيئ. وقال جوزيف دانفورد إن الجيش مستعد."
    text += "\nوأكد دانفورد أن القوات جاهزة. وقالت وزارة الخارجية الروسية إن الوضع خطير."
    b = Bootstrapper()
    b(text)
    assert len(b.resolver.clusters) >= 3
    return b.resolver


def test_resolver_cluster_index_finds_what_a_scan_of_all_clusters_finds() -> None:
    from khabar.bootstrap.resolution import _core

    res = _resolver_after_an_article()

    def scan(core: set[str], kind: str):
        for c in reversed(res.clusters):
            if c.kind != kind:
                continue
            for f in c.forms:
                fc = _core(f)
                if core and fc and (core <= fc or fc <= core):
                    return c
        return None

    cores = [_core(f) for c in res.clusters for f in c.forms]
    rng = random.Random(3)
    words = sorted({w for core in cores for w in core}) + ["زيد"]
    probes = cores + [{w} for w in words] + [set(rng.sample(words, min(3, len(words)))) for _ in range(200)] + [set()]
    for core in probes:
        for kind in ("name", "org", "nominal"):
            assert res._matching_cluster(core, kind) is scan(core, kind)


def test_nominal_candidates_hold_every_cluster_the_tests_accept() -> None:
    res = _resolver_after_an_article()
    assert any(c.titles for c in res.clusters)
    vocabulary = sorted({w for c in res.clusters for t in c.titles + c.forms for w in t}) + ["الحزب", "المتحدث", "باسم"]
    rng = random.Random(5)
    probes = [set(t) for c in res.clusters for t in c.titles] + [set(rng.sample(vocabulary, rng.randrange(1, 4))) for _ in range(300)]
    for words in probes:
        for heads in ({rng.choice(vocabulary)}, {w for w in list(words)[:1]}, {"حزب", "الحزب"}):
            for specific in (False, True):
                # resolve_nominal's acceptance tests, on every cluster
                accepted = [c for c in res.clusters
                            if any(words and words <= set(t) for t in c.titles)
                            or not specific and (bool(heads & {f[0] for f in c.forms if f}) or any(t and t[0] in heads for t in c.titles))]
                got = res._nominal_candidates(words, heads, specific)
                assert [c.id for c in got] == sorted(c.id for c in got)
                assert {c.id for c in accepted} <= {c.id for c in got}


def test_find_mentions_matches_the_scan_over_every_form() -> None:
    res = _resolver_after_an_article()
    toks = res.kt.tokens
    index: dict = {}
    for c in res.clusters:
        if c.kind != "name":
            continue
        for f in c.forms:
            if f:
                index.setdefault(f[0], []).append((f, c))
                if len(f) > 1 and len(f[-1]) > 2 and not res.lexicon.is_("name_particles", f[-1]):
                    index.setdefault(f[-1], []).append(((f[-1],), c))
    expected, j = [], 0
    while j < len(toks):
        best = None
        for f, c in index.get(toks[j].text.lstrip("#"), ()):
            if tuple(t.text.lstrip("#") for t in toks[j : j + len(f)]) == f and (best is None or len(f) > best[0]):
                best = (len(f), c)
        if best:
            expected.append((j, j + best[0], best[1]))
            j += best[0]
        else:
            j += 1
    got = res.find_mentions()
    assert len(got) > 5
    assert [(s, e, c.id) for s, e, c in got] == [(s, e, c.id) for s, e, c in expected]
