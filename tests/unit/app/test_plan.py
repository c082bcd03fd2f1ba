"""The workflow's plan (smartbert.app.plan) without Snakemake: which models a profile trains and
sweeps, what each training gets, the config checks, threads and GPUs per job, and the cluster cost
model. Milliseconds each; tests/integration/test_workflow.py checks that the Snakefile wires them."""

from __future__ import annotations

import copy
import json
import math

import pytest
import yaml
from snakemake.utils import validate

from smartbert.app.plan.experiment import Experiment
from smartbert.app.plan.resources import (
    MAX_RUNTIME_MIN,
    ClusterCost,
    JobThreads,
    check_pinned_gpu,
    frozen_cache_mb,
    split_size,
    visible_gpus,
)
from smartbert.core.errors import SmartBertError
from tests.helpers import REPO

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def profile(name: str, **changes) -> dict:
    """A shipped profile, validated (defaults filled in) as Snakemake does, with ``changes`` on top."""
    config = yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())
    config.update(copy.deepcopy(changes))
    validate(config, SCHEMA)
    return config


@pytest.fixture(scope="module")
def smoke() -> Experiment:
    return Experiment(profile("smoke"), repo_dir=REPO)


def test_models_are_every_method_on_every_task_and_seed_plus_each_variant_on_its_tasks(smoke):
    models = smoke.models()
    assert len(models) == 2 * 6 * 2 + 4 * 1 * 1  # 2 tasks x 6 methods x 2 seeds + 4 variants on one task, seed 1
    assert ("synthetic-nli", "smartbert", "soft", "1") not in models  # the variant runs on synthetic-sentiment only
    assert ("synthetic-sentiment", "smartbert", "soft", "1") in models
    assert ("synthetic-sentiment", "smartbert", "soft", "2") not in models  # ... and on seed 1 only
    every_seed = Experiment(profile("smoke", variants={"soft": {"method": "smartbert", "tasks": ["synthetic-sentiment"]}},
                                    figures={"fig5_variants": [], "fig6_variants": []}), repo_dir=REPO)
    assert [m[3] for m in every_seed.models() if m[2] == "soft"] == ["1", "2"]  # seeds: null = the run's
    skip_only = [m for m in smoke.swept_models() if m[2] == "skiponly"]
    assert skip_only == [(t, "smartbert", "skiponly", s) for t in smoke.tasks for s in smoke.seeds]


def test_a_run_without_smartbert_has_no_skip_only_sweep():
    plan = Experiment(profile("smoke", methods={"bert": {}}, variants={}, figures={"fig5_variants": [], "fig6_variants": []},
                              selection={"grid": {}}), repo_dir=REPO)
    assert plan.swept_models() == plan.models() and not plan.selects()


def test_mnli_mm_evaluates_the_mnli_model_and_trains_nothing_of_its_own():
    plan = Experiment(profile("paper"), repo_dir=REPO)
    assert "MNLI-mm" in plan.tasks and "MNLI-mm" not in plan.train_tasks and "MNLI" in plan.train_tasks
    assert plan.latency_models("MNLI-mm")[0][0] == "MNLI"


def test_a_training_gets_the_shared_settings_the_methods_the_variants_and_the_task_budget(smoke):
    config = json.loads(smoke.run_config("synthetic-sentiment", "smartbert", "soft"))
    assert config["train"]["epochs"] == 2 and config["train"]["max_train_examples"] == 400  # train: and data budget
    assert config["method"]["gate_mode"] == "soft" and config["method"]["lam"] == 0.001  # variant on top of the method
    assert json.loads(smoke.run_config("synthetic-sentiment", "smartbert"))["method"].get("gate_mode") is None


def test_stages_that_reuse_or_distil_another_model_make_it_an_input(smoke):
    assert smoke.reused_methods("deebert") == ["bert"] and smoke.reused_methods("distilbert") == ["bert"]
    assert smoke.reused_methods("bert") == [] and smoke.reused_methods("smartbert") == []
    assert smoke.needs_selection("smartbert") and not smoke.needs_selection("bert")
    assert smoke.grid_args() == "--grid lam=0.001,0.01"


def test_selection_plans_one_job_per_grid_point_in_grid_order(smoke):
    assert smoke.selection_points() == ["000-lam=0.001", "001-lam=0.01"]
    assert [smoke.selection_point_index(name) for name in smoke.selection_points()] == [0, 1]
    with pytest.raises(SmartBertError, match="'002-lam=0.1' is not a point of this profile's selection grid"):
        smoke.selection_point_index("002-lam=0.1")
    two_keys = Experiment({**smoke.config, "selection": {**smoke.config["selection"], "grid": {"lam": [0.01, 0.04], "eta1": [0.05]}}},
                          repo_dir=REPO)
    assert two_keys.selection_points() == ["000-lam=0.01-eta1=0.05", "001-lam=0.04-eta1=0.05"]
    assert Experiment({**smoke.config, "selection": {**smoke.config["selection"], "grid": {}}}, repo_dir=REPO).selection_points() == []


def test_sweep_and_oracle_arguments_follow_the_methods_exit_rule(smoke):
    assert smoke.table_thresholds_arg("smartbert") == "--thresholds 0.1,0.3,0.5"
    assert smoke.table_thresholds_arg("pabee") == "--thresholds 3,4"
    assert smoke.table_thresholds_arg("bert") == "" and smoke.middle_threshold_arg("bert") == ""
    assert smoke.middle_threshold_arg("smartbert") == "--threshold 0.3"


def test_figures_draw_the_tasks_all_their_variants_ran_on(smoke):
    figures = smoke.figures()
    assert figures["fig5_contrast"].tasks == ["synthetic-sentiment"] and figures["fig4_tradeoff"].tasks == smoke.tasks
    assert {m[2] for m in smoke.figure_models("fig6_gate_training")} == {"default", "soft", "hard"}
    assert smoke.drawn_figures()[-2:] == ["fig4_latency", "guaranteed_cost"]


def test_calibration_covers_every_early_exit_default_model_and_nothing_static(smoke):
    calibrated = smoke.calibrated_models()
    static = {m for m in smoke.methods if smoke.exit_policy(m).is_static()}
    assert static and not {m for (_, m, _, _) in calibrated} & static
    assert {v for (_, _, v, _) in calibrated} == {"default"}
    assert {(t, m) for (t, m, _, _) in calibrated} == {(t, m) for t in smoke.tasks for m in smoke.methods if m not in static}
    timed = smoke.calibrated_latency_models(smoke.tasks[0])
    assert timed[0][1] == "bert" and {s for (*_, s) in timed} == {smoke.seeds[0]}
    args = smoke.calibrate_args()
    assert "--epsilons 0.005,0.01,0.02,0.03,0.05,0.1" in args and "--delta 0.1" in args and "--loss disagreement" in args


def test_no_trials_means_no_calibration(smoke):
    off = Experiment({**smoke.config, "calibration": {**smoke.config["calibration"], "trials": 0}})
    assert off.calibrated_models() == [] and "guaranteed_cost" not in off.drawn_figures()


@pytest.mark.parametrize("changes, message", [
    ({"methods": {"bert": {}, "bertt": {}}}, "bertt"),
    ({"methods": {"smartbert": {"config": {"lamda": 0.1}}}}, "lamda"),
    ({"tasks": ["RTEE"]}, "RTEE"),
    ({"thresholds": {"entrpy": [0.1]}}, "entrpy"),
    ({"thresholds": {"none": [0.1]}}, "takes no threshold"),
    ({"variants": {"soft": {"method": "smartbert", "tasks": ["QQP"]}}}, "QQP"),
    ({"variants": {"soft": {"method": "bertt"}}}, "bertt"),
    ({"methods": {"smartbert": {"config": {"lam": -1.0}}}}, "lam must be >= 0"),
    ({"methods": {"fastbert": {"config": {"stage2_keep": "first"}}}}, "stage2_keep must be one of"),
    ({"selection": {"grid": {"lam": [0.01, -1.0]}}}, "lam must be >= 0"),
    ({"selection": {"method": "nothere", "grid": {"lam": [0.1]}}}, "selection.method 'nothere' is not under `methods:`"),
    ({"external": {"bert": {"rules": "x.smk", "sweep": "e/{task}.csv"}}}, "registered method"),
    ({"external": {"mine": {"rules": "nowhere.smk", "sweep": "e/{task}.csv"}}}, "nowhere.smk not found"),
    ({"figures": {"fig5_variants": ["nothere"], "fig6_variants": []}}, "nothere"),
    ({"variants": {"soft": {"method": "smartbert", "tasks": ["synthetic-nli"]}}}, "fig6_gate_training has no task"),
    ({"variants": {"soft": {"method": "smartbert", "seeds": [1, 3]}}}, "variant 'soft' trains seed(s) [3], which are not in `seeds:`"),
    ({"selection": {"tolerance": math.nan}}, "config.selection.tolerance must be a finite number"),
    ({"thresholds": {"entropy": [0.1, math.inf]}}, "config.thresholds.entropy[1] must be a finite number"),
])
def test_bad_config_is_named_before_any_job(changes, message):
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    for key, value in changes.items():
        config[key] = {**config.get(key, {}), **value} if key in ("selection", "figures", "variants") else value
    validate(config, SCHEMA)
    with pytest.raises(SmartBertError) as caught:
        Experiment(config, repo_dir=REPO).check()
    assert message in str(caught.value)


def test_every_shipped_profile_passes_its_checks():
    for name in ("smoke", "config", "cpu-full", "paper"):
        Experiment(profile(name), repo_dir=REPO).check()


def test_a_run_narrowed_to_some_tasks_leaves_out_variants_and_figures_on_others():
    config = profile("smoke", tasks=["synthetic-nli"])
    with pytest.raises(SmartBertError, match="not in `tasks:`"):
        Experiment(config, repo_dir=REPO).check()
    narrowed = Experiment(config, narrowed=True, repo_dir=REPO)
    narrowed.check()
    assert narrowed.variant_tasks("soft") == [] and "fig5_contrast" not in narrowed.drawn_figures()


@pytest.mark.parametrize("gpus, cores, slots", [(0, 16, 4), (0, 2, 1), (4, 16, 4), (4, 16, 1), (2, 2, 2)])
def test_gpu_jobs_get_a_gpu_each_and_a_few_threads_where_gpus_are(gpus, cores, slots):
    threads = JobThreads.plan(gpus, cores, slots)
    if gpus:
        assert threads.device_gpus == 1
        assert threads.device_threads == max(1, min(4, cores // (min(slots, gpus) + 1)))
        assert min(slots, gpus) * threads.device_threads < cores or threads.device_threads == 1  # cores left beside them
    else:  # two at once, half the cores each
        assert threads.device_gpus == 0 and threads.device_threads == max(1, cores // 2)
    assert (threads.gpu_note(slots) is not None) == bool(gpus and slots != gpus)


@pytest.mark.parametrize("gpus, cores, slots", [(0, 16, 4), (0, 2, 1), (4, 16, 4), (4, 16, 1), (2, 2, 2), (4, 16, None)])
def test_the_latency_job_times_with_nothing_beside_it(gpus, cores, slots):
    """Every core (no other job fits beside it) and every GPU slot (no training on the GPU it times)."""
    threads = JobThreads.plan(gpus, cores, slots)
    assert threads.timing_threads == cores
    assert threads.timing_gpus == (min(gpus, slots or gpus) if gpus else 0)
    assert threads.timing_gpus + threads.device_gpus > (slots or gpus) or not gpus  # a GPU job does not fit beside it


def test_a_gpu_pinned_by_smartbert_device_runs_one_gpu_job_at_a_time():
    """SMARTBERT_DEVICE=cuda:0 puts every job on that GPU: four at once there is an error naming the fix."""
    pinned = {"SMARTBERT_DEVICE": "cuda:0"}
    gpus = visible_gpus(pinned, lambda: 4)
    assert gpus == 1 and visible_gpus({**pinned, "SMARTBERT_GPUS": "4"}, lambda: 0) == 1
    for given in (4, None):
        with pytest.raises(SmartBertError, match="SMARTBERT_DEVICE=cuda:0 puts every GPU job on one GPU.*pass --resources gpu=1"):
            check_pinned_gpu(pinned, gpus, given)
    check_pinned_gpu(pinned, gpus, 1)
    check_pinned_gpu({"SMARTBERT_DEVICE": "auto"}, 4, 4)  # each job claims its own
    check_pinned_gpu({"SMARTBERT_DEVICE": "cuda"}, 4, 4)
    check_pinned_gpu(pinned, 0, 4)  # no GPU visible: the jobs say so themselves


def test_visible_gpus_never_imports_torch_for_a_cpu_plan():
    def no_cuda() -> int:
        raise AssertionError("a CPU or planned-GPU run must not ask CUDA")

    assert visible_gpus({"SMARTBERT_DEVICE": "cpu"}, no_cuda) == 0
    assert visible_gpus({"SMARTBERT_GPUS": "3"}, no_cuda) == 3
    assert visible_gpus({"SMARTBERT_DEVICE": "cuda:1"}, lambda: 4) == 1
    assert visible_gpus({}, lambda: 4) == 4


def test_cluster_runtime_and_memory_follow_the_work():
    cost = ClusterCost(Experiment(profile("paper"), repo_dir=REPO))
    assert split_size("WNLI", "train") == 635 and split_size("synthetic-nli", "dev") == 500  # from the task specs
    wnli, mnli = cost.train_runtime("WNLI", "smartbert", "default", 1), cost.train_runtime("MNLI", "smartbert", "default", 1)
    assert wnli <= 15 and mnli > 50 * wnli
    bert = cost.train_runtime("MNLI", "bert", "default", 1)
    assert mnli > bert  # 5 + 4 epochs, not 5
    assert cost.train_runtime("MNLI", "deebert", "default", 1) <= bert  # stage 1 is BERT's model, reused
    assert cost.train_runtime("MNLI", "bert", "default", 2) == min(MAX_RUNTIME_MIN, 2 * bert)  # a retry asks for twice
    select = cost.select_runtime("MNLI", 1)  # one grid point (a job each): stage 1 on 90% of train
    assert select < mnli and select < MAX_RUNTIME_MIN < 3 * select  # 5 stage-1 epochs; all 3 points in one job hit the cap
    assert cost.train_mem_mb("MNLI", 1) > cost.train_mem_mb("WNLI", 1) >= 8000
    assert cost.latency_mem_mb("RTE", 1) > cost.trace_mem_mb("RTE", 1) - 8000 + 4000


def test_a_training_that_caches_its_frozen_pass_asks_for_the_cache_too():
    """Off on a GPU unless set: nothing more; set (or on the CPU by default): twice the bound (training
    and selection split), for the methods whose stages read a frozen part without dropout."""
    assert frozen_cache_mb({}) == 0 and frozen_cache_mb({"SMARTBERT_DEVICE": "cuda:1"}) == 0
    assert frozen_cache_mb({"SMARTBERT_DEVICE": "cpu"}) == 4096
    assert frozen_cache_mb({"SMARTBERT_FROZEN_CACHE_MB": "1000"}) == 1000
    with pytest.raises(SmartBertError, match="SMARTBERT_FROZEN_CACHE_MB must be a number"):
        frozen_cache_mb({"SMARTBERT_FROZEN_CACHE_MB": "lots"})
    plan = Experiment(profile("paper"), repo_dir=REPO)
    off, on = ClusterCost(plan), ClusterCost(plan, frozen_cache_mb=1000)
    for method in ("smartbert", "deebert", "fastbert"):
        assert on.train_mem_mb("RTE", 1, method) == off.train_mem_mb("RTE", 1, method) + 2000, method
    assert on.train_mem_mb("RTE", 1, "bert") == off.train_mem_mb("RTE", 1, "bert")  # nothing frozen to cache
