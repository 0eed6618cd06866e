"""Near-duplicate grouping of search hits on Chinese policy paragraphs."""

from __future__ import annotations

import random

from policy_nlp.search.dedup import DuplicateGroup, group_duplicates, jaccard, shingles

STATE_COUNCIL = ("到2022年，学校美育取得突破性进展，美育课程全面开齐开足，教育教学改革成效显著，资源配置不断优化，"
                 "评价体系逐步健全，管理机制更加完善，育人成效显著增强，学生审美和人文素养明显提升。")
PROVINCE_COPY = ("到2022年，全省学校美育取得突破性进展，美育课程全面开齐开足，教育教学改革成效显著，资源配置不断优化，"
                 "评价体系逐步健全，育人成效显著增强，全省学生审美和人文素养明显提升。")
COUNTY_NOTICE = "XX县教育局关于做好2024年暑期校外培训治理工作的通知：严格落实“双减”要求，加大对隐形变异培训的查处力度。"
DISTRICT_NOTICE = ("YY区教育局关于做好2024年暑期校外培训治理工作的通知：严格落实“双减”要求，"
                   "加大对隐形变异学科类培训的查处力度。")
TEACHERS = "深化县管校聘管理改革，推进义务教育教师交流轮岗，每年交流轮岗教师比例不低于符合条件教师总数的10%。"

HITS = [(11, STATE_COUNCIL, 0.90), (12, COUNTY_NOTICE, 0.80), (13, PROVINCE_COPY, 0.70),
        (14, DISTRICT_NOTICE, 0.60), (15, TEACHERS, 0.50)]


def test_copies_group_under_the_best_scored_and_initiatives_stay_apart():
    ids, texts, scores = zip(*HITS)
    assert group_duplicates(ids, texts, scores) == [
        DuplicateGroup(leader_id=11, score=0.90, member_ids=(11, 13)),
        DuplicateGroup(leader_id=12, score=0.80, member_ids=(12, 14)),
        DuplicateGroup(leader_id=15, score=0.50, member_ids=(15,)),
    ]
    assert group_duplicates(ids, texts, scores)[0].count == 2


def test_grouping_does_not_depend_on_input_order():
    shuffled = HITS[:]
    random.Random(3).shuffle(shuffled)
    ids, texts, scores = zip(*shuffled)
    assert [g.member_ids for g in group_duplicates(ids, texts, scores)] == [(11, 13), (12, 14), (15,)]
    tied = group_duplicates([9, 4], [COUNTY_NOTICE, DISTRICT_NOTICE], [0.5, 0.5])
    assert tied == [DuplicateGroup(leader_id=4, score=0.5, member_ids=(4, 9))]


def test_similarity_ignores_punctuation_and_width():
    assert jaccard(shingles("课后服务“5+2”全覆盖"), shingles("课后服务５＋２全覆盖")) == 1.0
    assert jaccard(shingles(STATE_COUNCIL), shingles(TEACHERS)) < 0.05
    assert shingles("双减") == frozenset({"双减"}) and jaccard(frozenset(), frozenset()) == 0.0


def _greedy_reference(ids, texts, scores, threshold=0.5):
    """The grouping rule written out plainly: each hit joins the first leader it is similar enough to."""
    hits = sorted(zip(ids, texts, scores), key=lambda h: (-h[2], h[0]))
    leaders, groups = [], []
    for doc, text, _ in hits:
        grams = shingles(text)
        match = next((g for g, lead in enumerate(leaders) if jaccard(grams, lead) >= threshold), None)
        if match is None:
            leaders.append(grams)
            groups.append([doc])
        else:
            groups[match].append(doc)
    return [tuple(g) for g in groups]


def test_grouping_matches_the_plain_greedy_rule_on_real_paragraphs(seed_paragraphs):
    rng = random.Random(7)
    texts = list(seed_paragraphs)
    for text in seed_paragraphs[:40]:  # copies with a few characters changed, as other governments reword a template
        chars = list(text)
        for _ in range(rng.randint(1, max(1, len(chars) // 8))):
            chars[rng.randrange(len(chars))] = rng.choice("县区市省教育局学校")
        texts.append("".join(chars))
    ids = list(range(len(texts)))
    scores = [rng.random() for _ in texts]
    groups = group_duplicates(ids, texts, scores)
    assert [g.member_ids for g in groups] == _greedy_reference(ids, texts, scores)
    assert sum(g.count > 1 for g in groups) >= 20  # the reworded copies really were grouped
