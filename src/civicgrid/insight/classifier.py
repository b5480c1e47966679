"""A text classifier that learns from labelled history and also from what the city already
has without labels:

- three TF-IDF views of a message: its words (jieba), its character 1–3-grams, and the
  character 1–3-grams of its title alone (the title says in a few words what it is about;
  it is also repeated TITLE_WEIGHT times in the whole text). Their vocabulary and weights
  are fitted on the training messages *and* the unlabelled ones, so words that only
  unlabelled messages use still count;
- the anonymised place codes of the board ("A3区", "K8县": the letters and digits) and all
  numbers are levelled before anything is counted: they name no topic;
- the taxonomy's own names and keywords added as short labelled examples (a name is also
  read as a title), so a category with few messages still has its vocabulary;
- a fourth, small view: per first-level category of the taxonomy (all of them, also those
  no training message has), how many of the words of its level-2 and level-3 names, found
  in no other category's names, the message uses (log-scaled, weighted KEYWORD_WEIGHT);
- optional self-training: after a first fit, the unlabelled messages it is surest about
  are added with their guessed labels at a lower weight, and it is fitted again. Off by
  default: on the shared data it lowers macro-F1 (by 0.01 to 0.03, whether or not a second
  model must agree), because the unlabelled board messages also belong to categories the
  labelled ones do not have;
- a linear SVM with balanced class weights (small categories are not drowned out).

Confidence is a softmax over the SVM's margins: a ranking score, not a probability.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

# 2: a title view, and place codes and numbers levelled (1 had neither; it must be retrained)
MODEL_FORMAT = 2
TITLE_WEIGHT = 3
TITLE_CHARS = 30  # of the text, for the title view of a message without a title

Message = tuple[str, str]  # (title, text)
Progress = Callable[[str], None]


def tokens(text: str) -> list[str]:
    """Words of a Chinese text (rjieba: jieba's dictionary and tokens, in Rust). A
    module-level function so that a fitted vectorizer pickles."""
    import rjieba

    return [t for t in rjieba.cut(text) if t.strip()]


# "A3区", "K8县", "A市": the board's anonymised place codes; their letters and digits name
# a place, not a topic, and would otherwise be learnt as words of whatever category a
# district happened to write about.
_PLACE_CODE = re.compile(r"[A-Z]\d{0,2}(?=[市区县镇])")
_NUMBER = re.compile(r"\d+")


def level(text: str) -> str:
    return _NUMBER.sub("0", _PLACE_CODE.sub("", text))


def document(message: Message) -> str:
    title, text = message
    return (title.strip() + "。") * TITLE_WEIGHT + text if title.strip() else text


def _levelled(messages: Sequence[Message]) -> list[Message]:
    return [(level(title), level(text)) for title, text in messages]


def _title(message: Message) -> str:
    """What the title view reads: the title, or the start of a message that has none."""
    title, text = message
    return title.strip() or text[:TITLE_CHARS]


@dataclass
class Settings:
    c: float = 0.5
    # Share of the unlabelled messages, surest first, that self-training adds (0: none).
    self_training: float = 0.0
    self_training_weight: float = 0.5
    taxonomy_weight: float = 1.0
    # The taxonomy-keyword view beside the TF-IDF ones (0: without it).
    keyword_weight: float = 0.1
    min_df: int = 2
    char_min_df: int = 3
    title_min_df: int = 2
    max_char_features: int = 300_000


class TextClassifier:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.labels: list[str] = []
        self._words: Any = None
        self._chars: Any = None
        self._titles: Any = None
        self._keywords: dict[str, int] = {}  # word -> column of its first-level category
        self._keyword_columns = 0
        self._svm: Any = None

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        messages: Sequence[Message],
        labels: Sequence[str],
        *,
        taxonomy: Mapping[str, Sequence[str]] | None = None,
        unlabelled: Sequence[Message] = (),
        progress: Progress | None = None,
    ) -> TextClassifier:
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer

        say = progress or (lambda _: None)
        if len(messages) != len(labels):
            raise ValueError("one label per message")
        if len(set(labels)) < 2:
            raise ValueError("at least two different labels are needed")
        s = self.settings
        messages, unlabelled = _levelled(messages), _levelled(unlabelled)
        docs = [document(m) for m in messages]
        extra = [document(m) for m in unlabelled]
        titles = [_title(m) for m in messages]
        extra_titles = [_title(m) for m in unlabelled]
        say("words")
        # Tokenised once here; the vectorizer then splits on the spaces.
        word_docs = [" ".join(tokens(d)) for d in docs]
        word_extra = [" ".join(tokens(d)) for d in extra]
        taxonomy_docs, taxonomy_labels = _taxonomy_examples(taxonomy or {}, set(labels))
        taxonomy_docs = [level(d) for d in taxonomy_docs]
        word_taxonomy = [" ".join(tokens(d)) for d in taxonomy_docs]
        self._keywords, self._keyword_columns = _taxonomy_keywords(taxonomy or {})
        corpus_size = len(docs) + len(extra)
        self._words = TfidfVectorizer(
            tokenizer=str.split,
            token_pattern=None,
            lowercase=False,
            sublinear_tf=True,
            min_df=min(s.min_df, corpus_size),
        ).fit(word_docs + word_extra)
        self._chars = TfidfVectorizer(
            analyzer="char",
            ngram_range=(1, 3),
            sublinear_tf=True,
            min_df=min(s.char_min_df, corpus_size),
            max_features=s.max_char_features,
        ).fit(docs + extra)
        self._titles = TfidfVectorizer(
            analyzer="char",
            ngram_range=(1, 3),
            sublinear_tf=True,
            min_df=min(s.title_min_df, corpus_size),
        ).fit(titles + extra_titles + taxonomy_docs)
        say("fit")
        x = sp.vstack(
            [
                self._features(word_docs, docs, titles),
                # A taxonomy name is as short as a title and says what one is about.
                self._features(word_taxonomy, taxonomy_docs, taxonomy_docs),
            ]
        )
        y = np.array(list(labels) + taxonomy_labels)
        weights = np.concatenate(
            [np.ones(len(docs)), np.full(len(taxonomy_docs), s.taxonomy_weight)]
        )
        self._svm = self._fit_svm(x, y, weights)
        if extra and s.self_training > 0:
            say("self-training")
            x_extra = self._features(word_extra, extra, extra_titles)
            margins = self._svm.decision_function(x_extra)
            ordered = np.sort(margins, axis=1)
            lead = ordered[:, -1] - ordered[:, -2]
            keep = lead >= np.quantile(lead, 1 - s.self_training)
            guessed = self._svm.classes_[margins.argmax(axis=1)][keep]
            x = sp.vstack([x, x_extra[keep]])
            y = np.concatenate([y, guessed])
            weights = np.concatenate([weights, np.full(int(keep.sum()), s.self_training_weight)])
            self._svm = self._fit_svm(x, y, weights)
        self.labels = [str(label) for label in self._svm.classes_]
        return self

    def _fit_svm(self, x: Any, y: Any, weights: Any) -> Any:
        from sklearn.svm import LinearSVC

        svm = LinearSVC(C=self.settings.c, class_weight="balanced")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes on tiny data
            return svm.fit(x, y, sample_weight=weights)

    def _features(
        self, word_docs: Sequence[str], docs: Sequence[str], titles: Sequence[str]
    ) -> Any:
        import scipy.sparse as sp  # here, so that starting the platform does not load it

        views = (self._words, self._chars, self._titles)
        if not docs:
            return sp.csr_matrix(
                (0, sum(len(v.vocabulary_) for v in views) + self._keyword_columns)
            )
        return sp.hstack(
            [
                self._words.transform(word_docs),
                self._chars.transform(docs),
                self._titles.transform(titles),
                self._keyword_counts(word_docs),
            ]
        ).tocsr()

    def _keyword_counts(self, word_docs: Sequence[str]) -> Any:
        import scipy.sparse as sp

        counts: Counter[tuple[int, int]] = Counter()
        for row, words in enumerate(word_docs):
            for word in set(words.split()):
                column = self._keywords.get(word)
                if column is not None:
                    counts[row, column] += 1
        rows, columns = zip(*counts, strict=True) if counts else ((), ())
        values = np.log1p(np.fromiter(counts.values(), float, len(counts)))
        return sp.csr_matrix(
            (values * self.settings.keyword_weight, (rows, columns)),
            shape=(len(word_docs), self._keyword_columns),
        )

    # ------------------------------------------------------------------ predicting

    def scores(self, messages: Sequence[Message]) -> np.ndarray:
        """Per message, a softmax over the labels (columns in the order of `labels`)."""
        if self._svm is None:
            raise ValueError("the classifier is not fitted")
        messages = _levelled(messages)
        docs = [document(m) for m in messages]
        margins = self._svm.decision_function(
            self._features([" ".join(tokens(d)) for d in docs], docs, [_title(m) for m in messages])
        )
        if margins.ndim == 1:  # two labels: one margin for the second
            margins = np.column_stack([-margins, margins])
        exp = np.exp(3.0 * (margins - margins.max(axis=1, keepdims=True)))
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, messages: Sequence[Message]) -> list[tuple[str, float]]:
        scores = self.scores(messages)
        best = scores.argmax(axis=1)
        return [(self.labels[i], float(scores[row, i])) for row, i in enumerate(best)]

    def ranked(self, message: Message, limit: int = 5) -> list[tuple[str, float]]:
        scores = self.scores([message])[0]
        order = np.argsort(-scores)[:limit]
        return [(self.labels[i], float(scores[i])) for i in order]


def _taxonomy_examples(
    taxonomy: Mapping[str, Sequence[str]], labels: set[str]
) -> tuple[list[str], list[str]]:
    docs, out = [], []
    for label, terms in taxonomy.items():
        if label not in labels:
            continue
        for term in terms:
            if term.strip():
                docs.append(term.strip())
                out.append(label)
    return docs, out


def _taxonomy_keywords(taxonomy: Mapping[str, Sequence[str]]) -> tuple[dict[str, int], int]:
    """Words (two characters or more) of each first-level category's names that no other
    category's names use, each with its category's column; and the number of columns."""
    categories: dict[str, set[str]] = {}
    for label, terms in taxonomy.items():
        for term in terms:
            for word in tokens(level(term)):
                if len(word) >= 2:
                    categories.setdefault(word, set()).add(label)
    columns = {label: i for i, label in enumerate(sorted(taxonomy))}
    keywords = {w: columns[next(iter(c))] for w, c in categories.items() if len(c) == 1}
    return keywords, len(columns)


# ---------------------------------------------------------------------- measuring


@dataclass
class LabelScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Evaluation:
    macro_f1: float
    accuracy: float
    folds: int
    per_label: dict[str, LabelScore] = field(default_factory=dict)


def cross_validate(
    make: Callable[[], Any],
    messages: Sequence[Message],
    labels: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    fit_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> tuple[Evaluation, list[str]]:
    """Stratified k-fold: each fold's model sees only the other folds' labelled messages
    (and whatever FIT_OPTIONS bring that is not labelled test data). Answers the scores and
    the out-of-fold predictions. Labels with fewer messages than folds get fewer folds."""
    from sklearn.model_selection import StratifiedKFold

    y = np.array(labels)
    smallest = min(Counter(labels).values())
    folds = max(2, min(folds, smallest)) if smallest >= 2 else 2
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    predicted = np.empty(len(y), dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the least populated class has only 1 member"
        for number, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
            if progress:
                progress(f"fold {number}/{folds}")
            model = make()
            model.fit([messages[i] for i in train], y[train].tolist(), **(fit_options or {}))
            predicted[test] = [p for p, _ in _predictions(model, [messages[i] for i in test])]
    return evaluate(labels, predicted.tolist(), folds), predicted.tolist()


def _predictions(model: Any, messages: Sequence[Message]) -> list[tuple[str, float]]:
    return model.predict(messages)


def evaluate(truth: Sequence[str], predicted: Sequence[str], folds: int = 0) -> Evaluation:
    labels = sorted(set(truth) | set(predicted))
    per_label = {}
    for label in labels:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p == label)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != label and p == label)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = LabelScore(precision, recall, f1, tp + fn)
    present = [s for s in per_label.values() if s.support]
    macro = sum(s.f1 for s in present) / len(present) if present else 0.0
    accuracy = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p) / max(1, len(truth))
    return Evaluation(macro, accuracy, folds, per_label)


# ---------------------------------------------------------------------- storing


class ModelFileError(Exception):
    pass


def save_model(
    model: TextClassifier, path: Path, *, counts: Mapping[str, int], evaluation: Evaluation | None
) -> Path:
    """The fitted model (joblib) and a JSON sidecar beside it (MODEL.json) with its labels,
    training counts, measured scores and format version, readable without loading it."""
    import joblib

    from civicgrid import __version__

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path, compress=3)
    sidecar = sidecar_path(path)
    sidecar.write_text(
        json.dumps(
            {
                "format": MODEL_FORMAT,
                "civicgrid": __version__,
                "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "labels": model.labels,
                "counts": dict(counts),
                "settings": asdict(model.settings),
                "evaluation": asdict(evaluation) if evaluation else None,
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    return sidecar


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        raise ModelFileError(f"{sidecar} is missing")
    data: dict[str, Any] = json.loads(sidecar.read_text(encoding="utf-8"))
    return data


def load_model(path: Path) -> TextClassifier:
    import joblib

    meta = read_sidecar(path)
    if meta.get("format") != MODEL_FORMAT:
        raise ModelFileError(
            f"{path} was saved in model format {meta.get('format')}; this version reads format "
            f"{MODEL_FORMAT}: train the model again (civicgrid insight train or retrain)"
        )
    model = joblib.load(path)
    if not isinstance(model, TextClassifier):
        raise ModelFileError(f"{path} is not a text classifier")
    return model
