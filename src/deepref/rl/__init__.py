"""Reinforcement learning: finite MDPs, tabular control and deep RL (DQN, REINFORCE, A2C, PPO).

See the chapter "Deep reinforcement learning". The command line trains and
evaluates policies: ``python -m deepref.rl train dqn --env CartPole-v1 --seed 0
--out policy.npz`` and ``python -m deepref.rl evaluate policy.npz``.
"""

from ..seeds import spawn_seeds
from .buffer import Batch, ReplayBuffer
from .dqn import DQNConfig, copy_parameters, dqn_targets, dqn_update, epsilon_greedy_actions, linear_epsilon, train_dqn
from .envs import CartPoleParams, CartPoleVec, GymnasiumVec, VecEnv, VecStep, cartpole_dynamics, make_vec_env
from .losses import (
    clipped_surrogate_backward,
    clipped_surrogate_forward,
    entropy_backward,
    entropy_forward,
    huber_backward,
    huber_forward,
    log_prob_of,
    policy_gradient_backward,
    policy_gradient_forward,
    value_loss_backward,
    value_loss_forward,
)
from .pg import ALGORITHMS, PGConfig, Rollout, collect_rollout, pg_config, pg_update, train_pg
from .policy import Policy, evaluate_policy, load_policy, mlp
from .returns import gae, td_target
from .tabular import (
    MDP,
    bellman_optimality,
    check_discount,
    epsilon_greedy,
    make_mdp,
    mdp_from_gymnasium,
    policy_evaluation,
    policy_iteration,
    q_from_v,
    q_learning,
    sarsa,
    value_iteration,
)
from .training import EpisodeTracker, TrainResult, sample_categorical

__all__ = [name for name in dir() if not name.startswith("_")]
