"""The Terraform reader the cross-layer rules use: local modules followed, lines found, bad files reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplatform.errors import InputError
from mlplatform.terraform import load_terraform, unquote

REPO = Path(__file__).resolve().parents[1]


def test_reads_environment_and_local_modules_only():
    tf = load_terraform(REPO, "production")
    assert tf is not None and tf.root == "terraform/environments/production"
    assert "terraform/environments/production/main.tf" in tf.files
    assert "terraform/modules/platform/main.tf" in tf.files  # reached through module "platform"
    assert "terraform/modules/node-pools/main.tf" in tf.files  # reached through platform -> node_pools
    assert not any(path.startswith("terraform/environments/staging/") for path in tf.files)
    sources = {unquote(m.body["source"]) for m in tf.modules()}
    assert any(s.startswith("git::") for s in sources)  # upstream modules are named, not read


def test_block_line_points_at_the_block(tmp_path: Path):
    env = tmp_path / "terraform" / "environments" / "c1"
    env.mkdir(parents=True)
    (env / "main.tf").write_text(
        'locals {\n  a = 1\n}\n\nresource "aws_eks_addon" "cni" {\n  addon_name = "vpc-cni"\n}\n'
    )
    tf = load_terraform(tmp_path, "c1")
    [addon] = tf.resources("aws_eks_addon")
    assert addon.labels == ("aws_eks_addon", "cni") and unquote(addon.body["addon_name"]) == "vpc-cni"
    main = tf.file("terraform/environments/c1/main.tf")
    assert main.block_line("resource", "aws_eks_addon", "cni") == 5
    assert main.line_of("addon_name", start=5) == 6
    assert tf.search("vpc-cni") == [("terraform/environments/c1/main.tf", 6)]


def test_missing_environment_is_none(tmp_path: Path):
    assert load_terraform(tmp_path, "nope") is None


def test_unparsable_file_is_an_input_error_with_file(tmp_path: Path):
    env = tmp_path / "terraform" / "environments" / "c1"
    env.mkdir(parents=True)
    (env / "main.tf").write_text('resource "x" "y" {\n  a = \n')
    with pytest.raises(InputError) as err:
        load_terraform(tmp_path, "c1")
    assert err.value.file == "terraform/environments/c1/main.tf"


def test_module_outside_repository_is_refused(tmp_path: Path):
    env = tmp_path / "repo" / "terraform" / "environments" / "c1"
    env.mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (env / "main.tf").write_text('module "m" {\n  source = "../../../../outside"\n}\n')
    with pytest.raises(InputError, match="outside the repository"):
        load_terraform(tmp_path / "repo", "c1")


def test_variable_value_prefers_tfvars_then_the_environments_default(tmp_path: Path):
    env = tmp_path / "terraform" / "environments" / "c1"
    module = tmp_path / "terraform" / "modules" / "m"
    env.mkdir(parents=True)
    module.mkdir(parents=True)
    (env / "main.tf").write_text('module "m" {\n  source = "../../modules/m"\n}\n')
    (env / "variables.tf").write_text('variable "zones" {\n  default = ["a"]\n}\nvariable "size" {\n  default = 2\n}\n')
    (module / "variables.tf").write_text('variable "only_in_module" {\n  default = 7\n}\n')
    (env / "terraform.tfvars").write_text('zones = ["x", "y"]\n')
    tf = load_terraform(tmp_path, "c1")
    assert [unquote(z) for z in tf.variable_value("zones")] == ["x", "y"]
    assert tf.variable_value("size") == 2
    assert tf.variable_value("only_in_module") is None  # a module's input, not the environment's
    (env / "terraform.tfvars").write_text("zones = [\n")  # unparsable: the defaults answer
    assert [unquote(z) for z in load_terraform(tmp_path, "c1").variable_value("zones")] == ["a"]
