from __future__ import annotations

import pytest

from snapbuy.errors import InvalidParameterError
from snapbuy.train.options import FINE_TUNING_LEARNING_RATE, FROM_SCRATCH_LEARNING_RATE, TrainOptions


def test_the_learning_rate_follows_where_training_starts() -> None:
    assert TrainOptions().checked(fine_tuning=False).learning_rate == FROM_SCRATCH_LEARNING_RATE
    assert TrainOptions().checked(fine_tuning=True).learning_rate == FINE_TUNING_LEARNING_RATE
    assert TrainOptions(learning_rate=2e-4).checked(fine_tuning=True).learning_rate == 2e-4


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        (TrainOptions(learning_rate=0.0), "--learning-rate"),
        (TrainOptions(max_steps=0), "--max-steps"),
        (TrainOptions(localiser_max_steps=-1), "--localiser-max-steps"),
    ],
)
def test_bad_values_are_refused_by_their_flag(options: TrainOptions, flag: str) -> None:
    with pytest.raises(InvalidParameterError, match=flag):
        options.checked(fine_tuning=False)
