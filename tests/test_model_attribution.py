"""Attribution pieces: speaker clustering and names, pair features, cue pairing, the marginal loss."""

import torch

from khabar.model.attribution import FEATURE_SIZES, MAX_RANK, build_pairs, pair_cues
from khabar.model.canonical import cluster_mentions, display_name, same_source_mention, speaker_names
from khabar.model.heads import AttributionScorer, attribution_loss, prefix_sums, span_mean


def test_same_source_mention_handles_spelling_and_containment():
    assert same_source_mention("جوزيف دانفورد", "دانفورد")
    assert same_source_mention("جوزف دانفورد", "جوزيف دانفورد")  # one letter apart
    assert same_source_mention("جيل دو كيرشوف", "كيرشوف")
    assert same_source_mention("أنجيلا ميركل", "انجيلا ميركل")  # hamza variant
    assert not same_source_mention("إيمانويل ماكرون", "أنجيلا ميركل")
    assert not same_source_mention("مصر", "مصادر")


def test_clusters_and_fullest_name():
    mentions = [(0, "جوزيف دانفورد"), (40, "ماكرون"), (60, "دانفورد"), (90, "جوزف دانفورد"), (120, "إيمانويل ماكرون")]
    ids = cluster_mentions(mentions)
    assert ids[0] == ids[2] == ids[3] and ids[1] == ids[4] and ids[0] != ids[1]
    names = speaker_names(mentions)
    assert names[2] in ("جوزيف دانفورد", "جوزف دانفورد")
    assert names[1] == "إيمانويل ماكرون"
    assert display_name("أنجيلا #ميركل") == "أنجيلا ميركل"
    assert display_name("#الاتحاد_الأوروبي") == "الاتحاد الأوروبي"


def test_ambiguous_short_mention_joins_the_nearest_earlier_cluster():
    mentions = [(0, "الرئيس الفرنسي"), (50, "الرئيس الأميركي"), (80, "الرئيس")]
    ids = cluster_mentions(mentions)
    assert ids[2] == ids[1] and ids[0] != ids[1]


def test_pair_features_rank_the_nearest_earlier_mention_first():
    # tokens: mention A at 0-2, mention B at 10-12, quote cue 20-21, content 22-30, mention C at 35-36
    sentence = [0] * 15 + [1] * 25
    mentions = [(0, 2), (10, 12), (35, 36)]
    cands, feats = build_pairs([(22, 30, 20, 21)], mentions, sentence)
    assert cands == [[0, 1, 2]]
    (fa, fb, fc) = feats[0]
    assert fb[1] == 0 and fa[1] == 1  # B is the nearest before the quotation
    assert fc[1] == MAX_RANK  # C is the first after it
    assert fa[0] == fb[0] == 8 + 1  # one sentence back
    assert all(0 <= v < n for f in feats[0] for v, n in zip(f, FEATURE_SIZES))


def test_pair_cues_prefers_the_cue_before_in_the_same_sentence():
    sentence = [0] * 10 + [1] * 10
    # quote 1 at 3-9 with cue 0-1; quote 2 at 12-18 with cue 19-20 after it (بحسب ...)
    assert pair_cues([(3, 9), (12, 18)], [(0, 1), (19, 20)], sentence) == [(0, 1), (19, 20)]
    assert pair_cues([(3, 9)], [], sentence) == [None]


def test_marginal_loss_over_all_mentions_of_the_source():
    scores = torch.tensor([[0.0, 2.0, 2.0, -1.0], [3.0, 0.0, 0.0, 0.0]])  # column 0 = none
    targets = torch.tensor([[True, True, False], [False, False, False]])
    loss = attribution_loss(scores, targets)
    z0 = torch.logsumexp(scores[0], 0)
    expected0 = z0 - torch.logsumexp(torch.tensor([2.0, 2.0]), 0)
    expected1 = torch.logsumexp(scores[1], 0) - 3.0
    assert torch.allclose(loss, (expected0 + expected1) / 2)
    assert attribution_loss(torch.zeros(0, 3), torch.zeros(0, 2, dtype=torch.bool)) is None


def test_scorer_masks_padding_and_span_mean():
    states = torch.arange(12, dtype=torch.float).view(6, 2)  # (T, H)
    assert torch.allclose(span_mean(states, torch.tensor([[1, 3], [-1, -1]])), torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    torch.manual_seed(0)
    scorer = AttributionScorer(2, 4, 3, 0.0)
    feats = torch.zeros(1, 2, len(FEATURE_SIZES), dtype=torch.long)
    out = scorer(states, torch.tensor([[2, 4, 0, 1]]), torch.tensor([[0, 1]]), torch.tensor([[0, -1]]), feats)
    assert out.shape == (1, 3) and out[0, 2] < -1e3



def test_span_mean_with_shared_prefix_sums_is_bitwise_the_same():
    """The scorer computes the running sums once for its three poolings: the same numbers exactly."""
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        states = torch.randn(300, 16).to(dtype)  # (T, H)
        csum = prefix_sums(states)  # (T+1, H)
        for spans in (torch.tensor([[0, 300], [5, 9], [-1, -1], [299, 300], [7, 7]]), torch.zeros(0, 2, dtype=torch.long)):
            assert torch.equal(span_mean(states, spans, csum), span_mean(states, spans))

def test_names_drop_glued_proclitics_and_keep_real_words():
    text = "قال مكتب الأمم المتحدة إن الوضع صعب. وأكد المسؤول لمكتب الأمم المتحدة أن لبنان آمن."
    mentions = [(4, "مكتب الأمم المتحدة"), (50, "لمكتب الأمم المتحدة")]
    assert speaker_names(mentions, text) == ["مكتب الأمم المتحدة", "مكتب الأمم المتحدة"]
    assert display_name("للبيت الأبيض") == "البيت الأبيض"
    assert display_name("والمرأة") == "المرأة"
    assert display_name("لبنان", {"بنان"} - {"بنان"}) == "لبنان"
    assert not same_source_mention("المتحدث", "الولايات المتحدة")  # a different final letter


def test_candidates_are_capped_around_the_quotation():
    from khabar.model.attribution import MAX_AFTER, MAX_BEFORE

    mentions = [(i * 2, i * 2 + 1) for i in range(100)]  # tokens 0..199
    sentence = [t // 10 for t in range(400)]
    cands, feats = build_pairs([(101, 103, -1, -1)], mentions, sentence)
    assert len(cands[0]) == MAX_BEFORE + MAX_AFTER + 1  # + the mention inside the quotation
    assert 50 in cands[0] and 49 in cands[0] and 0 not in cands[0]
