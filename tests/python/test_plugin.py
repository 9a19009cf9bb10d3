"""The smemu wheel's Python side, run inside a fresh venv holding only the wheel (tests/it/python_package.rs).

The fixtures come from the plugin's `pytest11` entry point: there is no conftest.py here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import smemu as smemu_package

IMAGE = os.environ.get("SMEMU_TEST_IMAGE", "smemu-testmodel:latest")


def containers_of(data_dir: str) -> list:
    out = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label=smemu.data-dir={data_dir}"],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.split()


def test_the_wheel_bundles_the_binary_with_the_packages_version():
    binary = smemu_package.find_binary()
    assert binary.parent == Path(sysconfig.get_path("scripts")), binary
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"smemu {smemu_package.__version__}"


# The README's example, as written there.
def test_a_two_container_pipeline_through_boto3(smemu):
    sm = smemu.client("sagemaker")
    step = lambda name: {"Image": IMAGE, "ContainerHostname": name, "Environment": {"SMEMU_TEST_ROLE": "transform"}}
    sm.create_model(ModelName="churn", Containers=[step("features"), step("predictor")])
    sm.create_endpoint_config(EndpointConfigName="churn", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "churn",
        "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName="churn", EndpointConfigName="churn")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="churn", WaiterConfig={"Delay": 1})

    answer = smemu.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="churn", ContentType="text/csv", Body=b"1,2,3")
    assert answer["Body"].read() == b"1,2,3|features|predictor"


def test_the_session_server_is_shared_and_answers(smemu_server, request):
    assert smemu_server is request.getfixturevalue("smemu_server")
    assert smemu_server.client("sagemaker").list_models()["Models"] == []
    assert smemu_server.s3_endpoint_url.startswith("http://127.0.0.1:")
    smemu_server.client("s3").create_bucket(Bucket="session-bucket")
    assert [b["Name"] for b in smemu_server.client("s3").list_buckets()["Buckets"]] == ["session-bucket"]


def test_each_test_gets_a_fresh_data_directory(smemu, smemu_server):
    assert smemu.data_dir != smemu_server.data_dir
    assert smemu.client("sagemaker").list_endpoints()["Endpoints"] == []


def test_the_server_removes_its_containers_even_when_the_test_fails(tmp_path):
    failing = tmp_path / "test_failing.py"
    record = tmp_path / "record.json"
    failing.write_text(textwrap.dedent(f"""
        import json, subprocess
        def test_fails(smemu):
            sm = smemu.client("sagemaker")
            sm.create_model(ModelName="m", PrimaryContainer={{"Image": {IMAGE!r}}})
            sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[{{
                "VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 2}}])
            sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
            sm.get_waiter("endpoint_in_service").wait(EndpointName="e", WaiterConfig={{"Delay": 1}})
            ids = subprocess.run(["docker", "ps", "-q", "--filter", "label=smemu.data-dir=" + str(smemu.data_dir)],
                                 capture_output=True, text=True).stdout.split()
            open({str(record)!r}, "w").write(json.dumps({{"data_dir": str(smemu.data_dir), "containers": ids}}))
            assert False, "this test fails on purpose"
    """))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(failing)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "this test fails on purpose" in run.stdout
    seen = json.loads(record.read_text())
    assert len(seen["containers"]) == 2, seen
    assert containers_of(seen["data_dir"]) == []
    assert not Path(seen["data_dir"]).exists()


def test_smemu_keep_leaves_the_data_directory_and_containers(tmp_path):
    kept = tmp_path / "test_kept.py"
    record = tmp_path / "record.txt"
    kept.write_text(textwrap.dedent(f"""
        def test_kept(smemu):
            sm = smemu.client("sagemaker")
            sm.create_model(ModelName="m", PrimaryContainer={{"Image": {IMAGE!r}}})
            sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[{{
                "VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}}])
            sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
            sm.get_waiter("endpoint_in_service").wait(EndpointName="e", WaiterConfig={{"Delay": 1}})
            open({str(record)!r}, "w").write(str(smemu.data_dir))
    """))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--smemu-keep", str(kept)],
                         capture_output=True, text=True, cwd=tmp_path)
    data_dir = record.read_text()
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"smemu ps --data-dir {data_dir}" in run.stdout
        assert len(containers_of(data_dir)) == 1
        # What --smemu-keep is for: the state can be looked at afterwards.
        ps = subprocess.run([str(smemu_package.find_binary()), "ps", "--json", "--data-dir", data_dir],
                            capture_output=True, text=True, check=True)
        assert json.loads(ps.stdout)["endpoints"][0]["status"] == "InService"
    finally:
        subprocess.run([str(smemu_package.find_binary()), "prune", "--data-dir", data_dir], check=True,
                       capture_output=True)
    assert containers_of(data_dir) == []


def test_a_failed_start_says_why(tmp_path):
    import pytest

    with pytest.raises(smemu_package.ServerError, match="default-account"):
        with smemu_package.Server(default_account="nope"):
            pass


def test_the_sagemaker_sdks_pipeline_model_deploys_and_predicts(smemu):
    os.environ.setdefault("SAGEMAKER_SKIP_CONFIG_LOADING", "true")
    import boto3
    import sagemaker
    from sagemaker.model import Model
    from sagemaker.pipeline import PipelineModel
    from sagemaker.predictor import Predictor

    session = sagemaker.Session(
        boto_session=boto3.Session(region_name=smemu.region, aws_access_key_id="smemu", aws_secret_access_key="smemu"),
        sagemaker_client=smemu.client("sagemaker"),
        sagemaker_runtime_client=smemu.client("sagemaker-runtime"),
    )
    role = "arn:aws:iam::000000000000:role/smemu"
    steps = [Model(image_uri=IMAGE, role=role, env={"SMEMU_TEST_ROLE": "transform", "SMEMU_TEST_TAG": tag},
                   sagemaker_session=session) for tag in ("features", "predictor")]
    pipeline = PipelineModel(models=steps, role=role, name="sdk-pipeline", sagemaker_session=session)
    pipeline.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="sdk-pipeline")

    predictor = Predictor("sdk-pipeline", sagemaker_session=session)
    assert predictor.predict(b"x", initial_args={"ContentType": "text/plain"}) == b"x|features|predictor"
