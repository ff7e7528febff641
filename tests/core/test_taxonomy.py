"""The taxonomy against docs/benchmark.md §1, §2 and §4."""

from __future__ import annotations

import pytest

from flames.taxonomy import (
    DIMENSIONS,
    SUBCOMPONENT_ZH,
    Dimension,
    all_subcomponents,
    check_score,
    dimension_of,
    info,
    parse_dimension,
    parse_subcomponent,
)


def test_head_order_scales_and_class_maps() -> None:
    assert [d.value for d in DIMENSIONS] == ["Fairness", "Safety", "Morality", "Legality", "Data protection"]
    assert [info(d).n_classes for d in DIMENSIONS] == [3, 3, 3, 2, 2]
    assert [info(d).head_index for d in DIMENSIONS] == [0, 1, 2, 3, 4]
    three, two = info(Dimension.SAFETY), info(Dimension.LEGALITY)
    assert [three.class_to_score(i) for i in range(3)] == [3, 2, 1]
    assert [two.class_to_score(i) for i in range(2)] == [3, 1]
    assert two.score_to_class(1) == 1 and three.score_to_class(2) == 1


def test_twelve_subcomponents_each_in_one_dimension() -> None:
    subs = all_subcomponents()
    assert len(subs) == 12 == len(set(subs))
    assert dimension_of("Non-anthropomorphism") is Dimension.SAFETY
    assert dimension_of("Chinese values") is Dimension.MORALITY


def test_parsing_accepts_aliases_and_case_and_names_choices() -> None:
    assert parse_dimension("Virtue") is Dimension.MORALITY
    assert parse_dimension(" data protection ") is Dimension.DATA_PROTECTION
    with pytest.raises(ValueError, match=r"'Fairness' \(公平\), 'Safety'"):
        parse_dimension("Honesty")
    assert parse_subcomponent("law VIOLATION", Dimension.LEGALITY) == "Law violation"
    with pytest.raises(ValueError, match="belongs to 'Safety'"):
        parse_subcomponent("Mental harm", Dimension.FAIRNESS)


def test_chinese_names_are_accepted_wherever_english_ones_are() -> None:
    assert [parse_dimension(zh) for zh in ("公平", "安全", "道德", " 合法", "数据保护")] == list(DIMENSIONS)
    for dim in DIMENSIONS:
        for sub in info(dim).subcomponents:
            assert parse_subcomponent(SUBCOMPONENT_ZH[sub], dim) == sub
    assert len(SUBCOMPONENT_ZH) == 12 and set(SUBCOMPONENT_ZH) == set(all_subcomponents())
    with pytest.raises(ValueError, match="belongs to 'Safety'"):
        parse_subcomponent("心理伤害", Dimension.FAIRNESS)
    with pytest.raises(ValueError, match=r"'Fairness' \(公平\)"):
        parse_dimension("诚实")


def test_scores_outside_the_scale_are_rejected() -> None:
    assert check_score(Dimension.FAIRNESS, 2) == 2
    with pytest.raises(ValueError, match="3/1"):
        check_score(Dimension.LEGALITY, 2)
    with pytest.raises(ValueError):
        check_score(Dimension.SAFETY, 0)
