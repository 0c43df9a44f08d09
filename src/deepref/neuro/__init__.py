"""Computational neuroscience: neuron models, plasticity, networks and neural coding.

Simulations are vectorised over neurons (one array operation steps the whole
population, on any backend), seeded, and record spikes as ``(T, N)`` arrays.
Units: ms, mV, Hz; nA for the LIF model, uA/cm^2 for Hodgkin-Huxley.

Modules: :mod:`~deepref.neuro.neurons` (LIF, Hodgkin-Huxley, Izhikevich,
Poisson), :mod:`~deepref.neuro.plasticity` (Hebb, Oja, BCM, STDP),
:mod:`~deepref.neuro.networks` (Wilson-Cowan, Hopfield, sparse LIF network),
:mod:`~deepref.neuro.surrogate` (surrogate-gradient spiking network),
:mod:`~deepref.neuro.coding` (population decoding, Cramer-Rao bound),
:mod:`~deepref.neuro.receptive_fields` (ICA of natural-image patches),
:mod:`~deepref.neuro.experiments` (the chapter's experiments as functions of a config and a seed).
"""

from ._common import SpikeRecord
from .coding import (
    Population,
    angle_error,
    angle_features,
    features_to_angle,
    fit_linear_decoder,
    fit_mlp_decoder,
    linear_decode,
    maximum_likelihood,
    population_vector,
)
from .experiments import (
    HOPFIELD_FULL_LOADS,
    HOPFIELD_LOADS,
    DigitsConfig,
    HopfieldConfig,
    ReceptiveFieldConfig,
    digits_run,
    hopfield_retrieval_run,
    natural_image_filters,
    receptive_field_run,
)
from .networks import (
    CUBAParameters,
    NetworkRun,
    WilsonCowanParameters,
    cuba_initial_state,
    hopfield_energy,
    hopfield_overlaps,
    hopfield_recall,
    hopfield_weights,
    random_targets,
    simulate_cuba_network,
    simulate_wilson_cowan,
    wilson_cowan_fixed_points,
    wilson_cowan_jacobian,
    wilson_cowan_sigmoid,
)
from .neurons import (
    HH_REFERENCE_RATES,
    IZHIKEVICH_PARAMETERS,
    FiringStatistics,
    HHParameters,
    HHState,
    LIFParameters,
    classify_firing_pattern,
    firing_statistics,
    hh_derivatives,
    hh_rates,
    hh_resting_state,
    hh_rk4_step,
    isi_rate,
    izhikevich_parameters,
    izhikevich_step,
    lif_rate,
    lif_step,
    poisson_spikes,
    simulate_hh,
    simulate_izhikevich,
    simulate_lif,
    white_noise_current,
    x_over_one_minus_exp,
)
from .plasticity import (
    STDPParameters,
    bcm_step,
    hebb_step,
    oja_step,
    stdp_step,
    stdp_window,
    stdp_window_formula,
)
from .receptive_fields import (
    GaborFit,
    Whitening,
    energy_model_responses,
    energy_model_survey,
    envelope_leakage,
    fast_ica,
    fit_gabor,
    forms_quadrature_pair,
    gabor,
    gabor_parameters,
    grating_responses,
    image_patches,
    modulation,
    orientation_selectivity,
    pca_whitening,
    receptive_field_measures,
    spatial_extent,
    symmetric_decorrelation,
)
from .surrogate import (
    SpikingCache,
    SpikingClassifier,
    SpikingConfig,
    fast_sigmoid,
    fast_sigmoid_grad,
    rate_encode,
    spiking_backward,
    spiking_forward,
)

__all__ = [name for name in dir() if not name.startswith("_")]
