"""The floor to beat: jieba words, TF-IDF, a linear SVM, labelled messages only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from civicgrid.insight.classifier import Message


def jieba_words(text: str) -> list[str]:
    import jieba

    return jieba.lcut(text)


class BaselineClassifier:
    def __init__(self) -> None:
        self._pipeline: Any = None

    def fit(self, messages: Sequence[Message], labels: Sequence[str]) -> BaselineClassifier:
        import jieba
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline
        from sklearn.svm import LinearSVC

        jieba.setLogLevel(60)
        self._pipeline = make_pipeline(
            TfidfVectorizer(tokenizer=jieba_words, token_pattern=None, lowercase=False),
            LinearSVC(),
        ).fit([f"{t} {x}" for t, x in messages], list(labels))
        return self

    def predict(self, messages: Sequence[Message]) -> list[tuple[str, float]]:
        predicted = self._pipeline.predict([f"{t} {x}" for t, x in messages])
        return [(str(p), 1.0) for p in np.asarray(predicted)]
