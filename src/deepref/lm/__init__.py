"""Language models: n-grams, recurrent LMs, word embeddings and word-level classifiers.

* :mod:`~deepref.lm.corpus`: tokenizer, :class:`Vocabulary`, the PTB / movie-review /
  Python-docs corpora, stream batching for truncated BPTT;
* :mod:`~deepref.lm.ngram`: :class:`NGramLM` (add-k, absolute discounting,
  interpolated modified Kneser-Ney) and linear interpolation of two models;
* :mod:`~deepref.lm.embedding`, :mod:`~deepref.lm.softmax`, :mod:`~deepref.lm.rnnlm`:
  the recurrent LM with its embedding, full or class-factored softmax,
  truncated BPTT, perplexity, sampling and beam search;
* :mod:`~deepref.lm.synthetic`: a generated language with a known entropy rate;
* :mod:`~deepref.lm.word2vec`: skip-gram with negative sampling;
* :mod:`~deepref.lm.classify`: a recurrent sentence classifier and multinomial Naive Bayes.
"""

from .classify import (
    MultinomialNB,
    SequenceClassifier,
    fit_classifier,
    ngram_features,
    pad_batch,
    pooling_weights,
    predict_classes,
)
from .corpus import (
    EOS,
    UNK,
    Vocabulary,
    batchify,
    bptt_chunks,
    load_movie_reviews,
    load_ptb,
    load_python_docs,
    parse_ptb,
    read_ptb,
    tokenize,
)
from .embedding import Embedding, embedding_backward, embedding_forward
from .ngram import SMOOTHINGS, NGramLM, fit_interpolation_weight, interpolate_logprobs, perplexity_of
from .rnnlm import (
    RNNLM,
    beam_search,
    filter_distribution,
    greedy_decode,
    sample,
    stream_logprobs,
    train_epoch,
)
from .softmax import (
    ClassSoftmax,
    class_softmax_backward,
    class_softmax_forward,
    class_softmax_log_probs,
    output_layer_madds,
    sequence_loss_backward,
    sequence_loss_forward,
)
from .synthetic import AgreementSource
from .word2vec import (
    SkipGram,
    centred_unit_vectors,
    nearest_neighbours,
    skipgram_backward,
    skipgram_forward,
    skipgram_pairs,
    train_skipgram,
)

__all__ = [name for name in dir() if not name.startswith("_")]
