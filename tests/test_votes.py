"""Blind A/B votes: statistics against hand-computed values, sides drawn fairly and reproducibly, votes that survive a
restart and a failed write, clear errors, and preference pairs that follow the sides."""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from pipeline import files, votes
from pipeline.votes import TAGS, Vote, VoteStore, assign_sides, stats

BASE_LEFT = {"A": "base", "B": "finetuned"}
TUNED_LEFT = {"A": "finetuned", "B": "base"}
START = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


def make_vote(winner: str, sides: dict | None = None, tags: list[str] | None = None, minute: int = 0, **kw) -> Vote:
    """A vote whose `winner` ("base", "finetuned", "tie", "both_bad") is turned into the verdict through `sides`."""
    sides = sides or BASE_LEFT
    verdict = winner if winner in ("tie", "both_bad") else ("a" if sides["A"] == winner else "b")
    answers = {
        "base": "Il congiuntivo si usa raramente.",
        "finetuned": "Si usa dopo i verbi d'opinione:\n«Penso che sia così».\nÈ più formale, perché sì.",
    }
    return Vote(
        verdict=verdict,
        tags=tags or [],
        created=(START + timedelta(minutes=minute)).isoformat(timespec="microseconds"),
        turns=[{"role": "user", "content": "Quando si usa il congiuntivo?"}],
        answer_a=answers[sides["A"]],
        answer_b=answers[sides["B"]],
        sides=dict(sides),
        models={"base": "HuggingFaceTB/SmolLM2-135M-Instruct", "finetuned": "runs/prova/adapter"},
        sampling={"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 256, "seed": 42, "system": None},
        **kw,
    )


def vote_set(wins: int, losses: int, ties: int = 0, both_bad: int = 0) -> list[Vote]:
    """Votes with the sides alternating, so that the fine-tuned model sits on the left half of the time."""
    winners = ["finetuned"] * wins + ["base"] * losses + ["tie"] * ties + ["both_bad"] * both_bad
    return [make_vote(w, BASE_LEFT if i % 2 else TUNED_LEFT, minute=i) for i, w in enumerate(winners)]


def test_stats_of_8_wins_2_losses_3_ties_match_hand_computed_values():
    s = stats(vote_set(8, 2, 3))
    assert (s.n, s.wins, s.losses, s.ties, s.both_bad, s.decisive) == (13, 8, 2, 3, 0, 10)
    assert s.win_rate == pytest.approx(0.8)
    # Wilson, z = 1.959964, z² = 3.841459, n = 10, p = 0.8:
    #   centre = (0.8 + 3.841459/20) / (1 + 3.841459/10) = 0.992073 / 1.384146 = 0.716739
    #   half   = 1.959964 * sqrt(0.8*0.2/10 + 3.841459/400) / 1.384146 = 1.959964 * 0.160011 / 1.384146 = 0.226577
    assert s.win_rate_ci == pytest.approx((0.4902, 0.9433), abs=5e-5)
    # Sign test: P(X <= 2) for X ~ Bin(10, 0.5) is (1 + 10 + 45) / 1024; doubled for two sides.
    assert s.p_value == pytest.approx(2 * 56 / 1024) == 0.109375


@pytest.mark.parametrize(
    ("wins", "losses", "expected"),
    [
        (7, 3, 2 * (1 + 10 + 45 + 120) / 1024),  # 0.34375
        (0, 4, 2 * 1 / 16),  # 0.125: a clean sweep of 4 is still not significant
        (9, 0, 2 * 1 / 512),  # 0.00390625
        (5, 5, 1.0),  # doubling the tail of an even split passes 1: capped
        (1, 0, 1.0),
    ],
)
def test_sign_test_is_the_doubled_binomial_tail(wins: int, losses: int, expected: float):
    assert votes.sign_test(wins, losses) == pytest.approx(expected)
    assert votes.sign_test(losses, wins) == pytest.approx(expected)


def test_wilson_stays_inside_0_1_at_the_extremes():
    # p = 0, n = 5: centre = half = (3.841459/10) / (1 + 3.841459/5) = 0.384146 / 1.768292 = 0.217241
    assert votes.wilson(0, 5) == pytest.approx((0.0, 0.4345), abs=5e-5)
    assert votes.wilson(5, 5) == pytest.approx((0.5655, 1.0), abs=5e-5)
    assert votes.wilson(0, 0) is None


def test_all_ties_and_both_bad_have_counts_but_no_rates():
    s = stats(vote_set(0, 0, ties=4, both_bad=2))
    assert (s.n, s.ties, s.both_bad, s.decisive, s.left_wins) == (6, 4, 2, 0, 0)
    assert s.win_rate is s.win_rate_ci is s.p_value is s.left_rate is s.left_rate_ci is None
    assert dict(s.table())["Pari"] == "4"


def test_no_votes_is_not_an_error():
    s = stats([])
    assert (s.n, s.wins, s.losses, s.ties, s.both_bad) == (0, 0, 0, 0, 0)
    assert s.win_rate is s.win_rate_ci is s.p_value is s.left_rate is s.left_rate_ci is None
    rows = dict(s.table())
    assert rows["Voti"] == "0"
    assert rows["Vittorie del fine-tuned (sui voti decisivi)"] == "-"


def test_left_position_bias_counts_decisive_votes_won_by_side_a():
    # 10 decisive votes, the left answer won 6 of them (whichever model it was); the ties do not count.
    decisive = [make_vote("finetuned", TUNED_LEFT)] * 4 + [make_vote("base", BASE_LEFT)] * 2
    decisive += [make_vote("finetuned", BASE_LEFT)] * 3 + [make_vote("base", TUNED_LEFT)]
    s = stats([*decisive, make_vote("tie"), make_vote("both_bad")])
    assert (s.wins, s.losses, s.left_wins) == (7, 3, 6)
    assert s.left_rate == pytest.approx(0.6)
    # centre = (0.6 + 0.192073) / 1.384146 = 0.572246; half = 1.959964 * sqrt(0.024 + 0.009604) / 1.384146 = 0.259573
    assert s.left_rate_ci == pytest.approx((0.3127, 0.8318), abs=5e-5)
    assert dict(s.table())["Vittorie della risposta a sinistra (A)"] == "60.0% (IC 95%: 31.3%–83.2%)"


def test_tags_are_counted_overall_and_by_the_model_that_lost():
    s = stats(
        [
            make_vote("finetuned", tags=["grammatica", "anglicismi"]),
            make_vote("finetuned", TUNED_LEFT, tags=["grammatica"]),
            make_vote("base", tags=["completezza", "grammatica"]),
            make_vote("both_bad", tags=["correttezza"]),
        ]
    )
    assert s.tags == {"grammatica": 3, "anglicismi": 1, "completezza": 1, "correttezza": 1}
    assert s.tags_by_loser["base"] == {"grammatica": 2, "anglicismi": 1}
    assert s.tags_by_loser["finetuned"] == {"grammatica": 1, "completezza": 1}
    rows = dict(s.table())
    assert rows["Etichetta «grammatica»"] == "3 (su chi ha perso: base 2, fine-tuned 1)"
    assert rows["Etichetta «registro»"] == "0 (su chi ha perso: base 0, fine-tuned 0)"


def test_sides_are_seedable_and_both_orders_occur():
    assert assign_sides(7) == assign_sides(7)
    draws = [assign_sides(seed) for seed in range(40)]
    assert {tuple(d.items()) for d in draws} == {tuple(BASE_LEFT.items()), tuple(TUNED_LEFT.items())}
    # One generator for a whole session: the same seed gives the same sequence of sides.
    first, second = random.Random(3), random.Random(3)
    assert [assign_sides(first) for _ in range(10)] == [assign_sides(second) for _ in range(10)]


def test_winner_follows_the_sides():
    assert make_vote("finetuned", BASE_LEFT).verdict == "b"
    assert make_vote("finetuned", BASE_LEFT).winner == "finetuned"
    assert make_vote("finetuned", TUNED_LEFT).verdict == "a"
    assert make_vote("finetuned", TUNED_LEFT).winner == "finetuned"
    assert make_vote("base", TUNED_LEFT).winner == "base"
    assert make_vote("tie").winner == "tie"
    assert make_vote("both_bad").winner == "both_bad"
    assert votes.VERDICT_LABELS == {"a": "A meglio", "b": "B meglio", "tie": "pari", "both_bad": "entrambe scarse"}


def test_votes_survive_a_restart_and_come_back_in_time_order(tmp_path: Path):
    store = VoteStore(tmp_path / "votes")
    added = [
        make_vote("finetuned", minute=5, tags=["registro"], comment="B più naturale, però lunga."),
        make_vote("base", TUNED_LEFT, minute=1),
        make_vote("tie", minute=3),
    ]
    for vote in added:
        store.add(vote)
    reopened = VoteStore(tmp_path / "votes")  # as after an app restart
    assert reopened.count() == 3
    assert reopened.all() == sorted(added, key=lambda v: v.created)
    assert [v.winner for v in reopened.all()] == ["base", "tie", "finetuned"]


def test_default_folder_is_under_bottega_home(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BOTTEGA_HOME", str(tmp_path))
    store = VoteStore()
    assert store.folder == tmp_path / "votes"
    assert store.all() == [] and store.count() == 0  # no folder yet: no votes, no error
    store.add(make_vote("finetuned"))
    assert store.count() == 1


def test_a_vote_file_is_readable_yaml_with_block_scalars_and_accents_as_is(tmp_path: Path):
    store = VoteStore(tmp_path)
    vote = make_vote("finetuned", comment="Più corretta, usa «è» e non «e'».")
    path = store.add(vote)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    assert path.name == f"20250501T090000.000000Z-{vote.id}.yaml"
    text = path.read_text(encoding="utf-8")
    assert "answer_b: |-\n  Si usa dopo i verbi d'opinione:\n  «Penso che sia così».\n  È più formale" in text
    assert "comment: Più corretta, usa «è» e non «e'».\n" in text
    assert "\\x" not in text and "\\u" not in text
    assert yaml.safe_load(text) == vote.to_dict()


def test_a_failed_write_leaves_no_vote_and_no_temp_file(tmp_path: Path, monkeypatch):
    store = VoteStore(tmp_path)
    store.add(make_vote("base"))

    def disk_error(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", disk_error)
    with pytest.raises(OSError, match="No space left"):
        store.add(make_vote("finetuned", minute=1))
    monkeypatch.undo()
    assert len(list(tmp_path.iterdir())) == 1
    assert [v.winner for v in store.all()] == ["base"]


def test_foreign_files_are_ignored_and_a_damaged_vote_names_its_file(tmp_path: Path):
    store = VoteStore(tmp_path)
    store.add(make_vote("finetuned"))
    (tmp_path / "note.yaml").write_text("appunti: sì\n", encoding="utf-8")
    (tmp_path / "LEGGIMI.txt").write_text("voti del tab Confronta\n", encoding="utf-8")
    # What a write killed half-way leaves: a hidden temp file, never a vote file.
    (tmp_path / f".{make_vote('base').filename}.a1b2c3.tmp").write_text("verdict: a\nturns:\n- role: us", "utf-8")
    assert store.count() == 1
    assert [v.winner for v in store.all()] == ["finetuned"]

    damaged = tmp_path / make_vote("base", minute=2).filename
    damaged.write_text("verdict: a\nturns: [\n", encoding="utf-8")
    with pytest.raises(ValueError, match=damaged.name):
        store.all()
    damaged.write_text(yaml.safe_dump({**make_vote("base").to_dict(), "verdict": "forse"}), encoding="utf-8")
    with pytest.raises(ValueError, match=f"(?s){damaged.name}.*`verdict`"):
        store.all()


def test_invalid_verdict_and_tag_errors_name_the_field_and_the_allowed_values():
    with pytest.raises(ValueError, match="`verdict`: 'A' non valido, usa uno tra a, b, tie, both_bad"):
        Vote(**{**make_vote("finetuned").to_dict(), "verdict": "A"})
    with pytest.raises(ValueError, match=f"`tags`: 'ortografia' non valido, usa uno tra {', '.join(TAGS)}"):
        make_vote("finetuned", tags=["grammatica", "ortografia"])
    with pytest.raises(ValueError, match="`sides`"):
        Vote.from_dict({**make_vote("base").to_dict(), "sides": {"A": "base", "B": "base"}})
    with pytest.raises(ValueError, match="mancano i campi answer_b"):
        Vote.from_dict({k: v for k, v in make_vote("base").to_dict().items() if k != "answer_b"})
    with pytest.raises(ValueError, match="campi sconosciuti punteggio"):
        Vote.from_dict({**make_vote("base").to_dict(), "punteggio": 3})


def test_export_puts_the_winners_answer_in_chosen_whichever_side_it_was_on(tmp_path: Path):
    from pipeline import dataset
    from pipeline.preferences import export_votes

    tuned_right = make_vote("finetuned", BASE_LEFT, tags=["grammatica"], comment="A sbaglia il modo.")
    tuned_left = make_vote("finetuned", TUNED_LEFT, minute=1)
    base_left = make_vote("base", BASE_LEFT, minute=2, tags=["completezza"])
    with_system = make_vote("base", TUNED_LEFT, minute=3)
    with_system.sampling["system"] = "Rispondi in italiano."
    all_votes = [tuned_right, tuned_left, base_left, with_system, make_vote("tie", minute=4)]
    all_votes.append(make_vote("both_bad", minute=5))
    path = tmp_path / "out" / "preferenze.yaml"

    assert export_votes(all_votes, path) == 4
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Coppie scelta/scartata dai voti A/B")
    assert "  output: |-\n    Si usa dopo i verbi d'opinione:\n    «Penso che sia così»." in text
    # A dataset like any other: the Dataset tab opens it, DPO trains on it.
    rows = dataset.load(path).examples
    assert "1 pari e 1 'entrambe scarse' esclusi" in dataset.load(path).description
    assert [r.id for r in rows] == [f"voto-{v.id[:12]}" for v in (tuned_right, tuned_left, base_left, with_system)]
    good, poor = "Si usa dopo i verbi d'opinione", "Il congiuntivo si usa raramente."
    for row in rows[:2]:
        assert row.output.startswith(good) and row.rejected == poor
        assert "finetuned meglio di base" in row.meta.source
    for row in rows[2:]:
        assert row.output == poor and row.rejected.startswith(good)
        assert "base meglio di finetuned" in row.meta.source
    assert all(r.meta.method == "votes" and r.meta.status == "approved" for r in rows)
    assert rows[0].instruction == "Quando si usa il congiuntivo?" and rows[0].messages is None
    assert rows[0].meta.tags == ["grammatica"] and tuned_right.id in rows[0].meta.source
    # The system prompt the models answered under is part of the prompt.
    assert rows[3].messages[0] == {"role": "system", "content": "Rispondi in italiano."}
    assert rows[3].messages[-1] == {"role": "assistant", "content": poor}
    assert [p.name for p in path.parent.iterdir()] == ["preferenze.yaml"]


def test_cli_stats_and_export(tmp_path, monkeypatch, capsys):
    from pipeline.__main__ import main

    monkeypatch.setenv("BOTTEGA_HOME", str(tmp_path))
    store = VoteStore()
    for verdict in ("a", "a", "b", "tie"):
        store.add(
            Vote(verdict=verdict, turns=[{"role": "user", "content": "Ciao"}], answer_a="uno", answer_b="due",
                 sides={"A": "finetuned", "B": "base"}, models={"base": "b", "finetuned": "f"})
        )  # fmt: skip
    assert main(["votes", "stats"]) == 0
    out = capsys.readouterr().out
    assert "Meglio il fine-tuned\t2" in out and "Meglio il base\t1" in out and "Pari\t1" in out
    assert main(["votes", "export", "--out", str(tmp_path / "pref.yaml")]) == 0
    assert "3 coppie" in capsys.readouterr().out


def test_tag_plot_has_a_readable_axis_with_no_votes_and_fits_the_counts(tmp_path: Path, monkeypatch):
    """With no tags an open-ended y axis collapses onto 0 (labelled 0.000000); the plot gets a range of at least 1."""
    from pipeline.ui.compare import statistics

    monkeypatch.setenv("BOTTEGA_HOME", str(tmp_path))
    table, plot = statistics()
    assert plot.y_lim == [0, 1] and table.iloc[0, 1] == "0"
    for minute in range(3):
        VoteStore().add(make_vote("base", tags=["anglicismi"], minute=minute))
    table, plot = statistics()
    assert plot.y_lim == [0, 3] and table.iloc[0, 1] == "3"
