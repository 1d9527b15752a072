from tests.conftest import assert_clean_error


def test_data_list_json(cli):
    r = cli("data", "list", "--json")
    assert r.exit_code == 0
    names = {d["name"] for d in r.json()["datasets"]}
    assert {"shapes", "shapes-seg", "cifar10", "oxford-pets", "folder:PATH", "segfolder:PATH"} <= names


def test_data_check_shapes_json(cli):
    r = cli("data", "check", "shapes-seg:n=80", "--json")
    assert r.exit_code == 0, r.stderr
    report = r.json()
    assert report["task"] == "segmentation" and report["splits"]["train"]["count"] == 72
    assert report["problems"] == []


def test_data_check_reports_unpaired_mask_and_exits_2(cli, tmp_path):
    import numpy as np
    from PIL import Image

    for d in ("images", "masks"):
        (tmp_path / d).mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "masks" / "a.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "masks" / "b.png")
    r = cli("data", "check", f"segfolder:{tmp_path}", "--data-dir", tmp_path / "root")
    assert r.exit_code == 2
    assert "b.png has no image" in r.stdout
    assert r.stderr.startswith("error: 1 problem(s)")


def test_unknown_dataset_and_missing_folder(cli, tmp_path):
    assert_clean_error(cli("data", "check", "cifar11"), "did you mean 'cifar10'")
    assert_clean_error(cli("data", "check", f"folder:{tmp_path / 'x'}"), "does not exist")
    assert_clean_error(cli("data", "check", "mnist", "--no-download", "--data-dir", tmp_path), "train-images-idx3-ubyte")
