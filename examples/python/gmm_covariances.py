"""
===============
GMM covariances
===============

Demonstration of several covariances types for Gaussian mixture models, in
the style of scikit-learn's "GMM covariances" example: a GaussianMixture per
covariance type on the iris data set (train/test split, initialised from the
class means, accuracy of the labels) and on synthetic blobs.

The script is plain scikit-learn. To train with gmmc instead, change the
import of GaussianMixture, and nothing else:

    from sklearn.mixture import GaussianMixture
becomes
    from gmmc import GaussianMixture

The initial parameters are given (weights_init, means_init, precisions_init
from the training labels), so that the result does not depend on a random
initialisation: scikit-learn and gmmc then start from the same point and
compute the same EM iterations.

Usage: python gmm_covariances.py [LABELS.npz]   (saves every model's labels)
"""
import sys

import numpy as np
from sklearn import datasets
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import StratifiedKFold

iris = datasets.load_iris()

# Break up the dataset into non-overlapping training (75%) and testing (25%) sets.
skf = StratifiedKFold(n_splits=4)
train_index, test_index = next(iter(skf.split(iris.data, iris.target)))

X_train = iris.data[train_index]
y_train = iris.target[train_index]
X_test = iris.data[test_index]
y_test = iris.target[test_index]

n_classes = len(np.unique(y_train))


def class_start(X, y, n_classes, covariance_type):
    """Initial parameters from labelled data: class weights, means and precisions."""
    weights = np.array([np.mean(y == i) for i in range(n_classes)])
    means = np.array([X[y == i].mean(axis=0) for i in range(n_classes)])
    covs = [np.cov(X[y == i].T) + 1e-3 * np.eye(X.shape[1]) for i in range(n_classes)]
    if covariance_type == "full":
        precisions = np.array([np.linalg.inv(c) for c in covs])
    elif covariance_type == "tied":
        precisions = np.linalg.inv(np.mean(covs, axis=0))
    elif covariance_type == "diag":
        precisions = np.array([1.0 / np.diag(c) for c in covs])
    else:
        precisions = np.array([1.0 / np.mean(np.diag(c)) for c in covs])
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


# Try GMMs using different types of covariances.
estimators = {
    cov_type: GaussianMixture(n_components=n_classes, covariance_type=cov_type, max_iter=20, random_state=0,
                              **class_start(X_train, y_train, n_classes, cov_type))
    for cov_type in ["spherical", "diag", "tied", "full"]
}

labels = {}
for name, estimator in estimators.items():
    estimator.fit(X_train)

    y_train_pred = estimator.predict(X_train)
    train_accuracy = np.mean(y_train_pred.ravel() == y_train.ravel()) * 100
    y_test_pred = estimator.predict(X_test)
    test_accuracy = np.mean(y_test_pred.ravel() == y_test.ravel()) * 100
    print(f"iris {name:>9}: train accuracy {train_accuracy:5.1f} %, test accuracy {test_accuracy:5.1f} %")
    labels[f"iris_{name}_train"] = y_train_pred
    labels[f"iris_{name}_test"] = y_test_pred

# Blobs: more samples, more components, anisotropic clusters.
X, y = datasets.make_blobs(n_samples=20000, centers=6, n_features=5, cluster_std=1.5, random_state=170)
X = X @ np.random.RandomState(74).normal(size=(5, 5)) * 0.6
for cov_type in ["spherical", "diag", "tied", "full"]:
    gmm = GaussianMixture(n_components=6, covariance_type=cov_type, random_state=0,
                          **class_start(X, y, 6, cov_type))
    y_pred = gmm.fit(X).predict(X)
    accuracy = np.mean(y_pred == y) * 100
    print(f"blobs {cov_type:>9}: {gmm.n_iter_:3d} iterations, lower bound {gmm.lower_bound_:.4f}, "
          f"BIC {gmm.bic(X):.1f}, accuracy {accuracy:5.1f} %")
    labels[f"blobs_{cov_type}"] = y_pred

if len(sys.argv) > 1:
    np.savez(sys.argv[1], **labels)
