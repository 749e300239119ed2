"""Splits of a :class:`~webly.dataset.WebDataset` that never cut a bag: k folds stratified by web
label, a random holdout, and whole-bag subsamples per class (learning curves). The dataset's
``kfold_by_bag`` / ``split_by_bag`` / ``subsample_per_class`` methods call these functions."""

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold
from sklearn.utils import check_random_state

from .errors import DataError


def bag_labels(self):
    bag_ids = self.bag_ids
    frame = pd.DataFrame({"bag": bag_ids, "y": self.y})
    first = frame.drop_duplicates("bag")
    return bag_ids, first["bag"].to_numpy(), first["y"].to_numpy()

def kfold_by_bag(self, n_splits=5, random_state=None):
    """Yield ``(train_rows, test_rows)`` for k folds that never cut a bag.

    Folds are stratified by the bags' web labels (scikit-learn ``StratifiedGroupKFold``).
    """
    bag_ids = self.bag_ids
    n_bags = self.n_bags
    if not 2 <= n_splits <= n_bags:
        raise DataError("folds", f"needs 2 <= folds <= number of bags ({n_bags}), got {n_splits}")
    seed = check_random_state(random_state).randint(2**31 - 1)
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    yield from cv.split(self.X, self.y, groups=bag_ids)

def split_by_bag(self, test_size=0.25, random_state=None):
    """``(train_rows, test_rows)`` of a random split by bag (a bag is never cut)."""
    if not 0 < test_size < 1:
        raise DataError("test_size", f"must be in (0, 1), got {test_size}")
    if self.n_bags < 2:
        raise DataError("bags", "a split by bag needs at least two bags")
    seed = check_random_state(random_state).randint(2**31 - 1)
    gss = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    return next(gss.split(self.X, self.y, groups=self.bag_ids))

def subsample_per_class(self, n_per_class, random_state=None):
    """A dataset with about ``n_per_class`` training rows of each web label, whole bags.

    Bags of each class are drawn at random (seeded) until the class has at least
    ``n_per_class`` rows; with singleton bags that is exactly ``n_per_class`` rows. The test
    set is kept. Used for learning curves ("5, 10, 20 images per class").
    """
    if not (isinstance(n_per_class, (int, np.integer)) and n_per_class >= 1):
        raise DataError("train_per_class", f"must be a positive integer, got {n_per_class!r}")
    rng = check_random_state(random_state)
    bag_ids, bag_order, bag_y = bag_labels(self)
    sizes = pd.Series(bag_ids).value_counts()
    chosen = []
    for c in self.class_names:
        bags_c = bag_order[bag_y == c]
        if len(bags_c) == 0:
            continue
        total = 0
        for b in rng.permutation(bags_c):
            if total >= n_per_class:
                break
            chosen.append(b)
            total += int(sizes[b])
    rows = np.flatnonzero(np.isin(bag_ids, chosen))
    return self.subset(rows)
