//! The analysis subcommands: clear errors for bad layers, units, concepts and files, and
//! tables or JSON on the built-in model.

mod common;
use common::{builtin, builtin_study, modalscope};

/// Runs a command that must fail, returning its message; it must not panic.
fn error_of(args: &[&str]) -> String {
    let (ok, _, stderr) = modalscope(args);
    assert!(!ok, "{args:?} succeeded");
    assert!(stderr.contains("error:"), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    stderr
}

#[test]
fn bad_requests_fail_with_a_message_not_a_panic() {
    let m = builtin();
    let clip = builtin_study().clip;
    let (first, pooled) = (&clip.neuron_layers()[0], &clip.pooled_layer());
    let e = error_of(&["neurons", "--model", &m, "--layer", "vision.blocks.99.mlp"]);
    assert!(e.contains("unknown layer `vision.blocks.99.mlp`"), "{e}");
    let e = error_of(&["neurons", "--model", &m, "--layer", "text.blocks.0.mlp"]);
    assert!(e.contains("text tower"), "{e}");
    let e = error_of(&[
        "directions",
        "--model",
        &m,
        "--layer",
        "vision.blocks.99.mlp",
    ]);
    assert!(e.contains("unknown layer `vision.blocks.99.mlp`"), "{e}");
    let e = error_of(&[
        "directions",
        "--model",
        &m,
        "--layer",
        pooled,
        "--per-concept",
        "0",
    ]);
    assert!(e.contains("at least 1"), "{e}");
    let e = error_of(&["families", "--model", &m, "--layer", first, "--k", "0"]);
    assert!(e.contains("--k must be at least 1"), "{e}");
    let e = error_of(&[
        "lesion", "--model", &m, "--layer", first, "--units", "99999",
    ]);
    assert!(e.contains("unit 99999 does not exist"), "{e}");
    let e = error_of(&["lesion", "--model", &m, "--layer", first, "--units", "1,x"]);
    assert!(e.contains("invalid unit `x`"), "{e}");
    let e = error_of(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        "vision.nope",
        "--units",
        "1",
    ]);
    assert!(e.contains("unknown layer"), "{e}");
    let e = error_of(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        first,
        "--concept",
        "pizza",
    ]);
    assert!(e.contains("`pizza` is not a concept"), "{e}");
    let e = error_of(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        "text.blocks.0.mlp",
        "--concept",
        "star",
        "--choose",
        "needed",
    ]);
    assert!(e.contains("belongs to the text tower"), "{e}");
    let e = error_of(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        first,
        "--concept",
        "star",
        "--choose",
        "best",
    ]);
    assert!(e.contains("multimodal, needed"), "{e}");
    let e = error_of(&[
        "lesion", "--model", &m, "--layer", first, "--units", "1", "--choose", "needed",
    ]);
    assert!(e.contains("--concept"), "{e}");
    let e = error_of(&["attack", "--model", &m, "--word", "pizza"]);
    assert!(e.contains("`pizza` is not a concept"), "{e}");
    for bad in ["0", "0.9", "NaN"] {
        let e = error_of(&["attack", "--model", &m, "--letter-height", bad]);
        assert!(e.contains("--letter-height must lie in"), "{bad}: {e}");
    }
    let e = error_of(&["attack", "--model", &m, "--per-concept", "0"]);
    assert!(e.contains("at least 1"), "{e}");
    let e = error_of(&["attack", "--model", &m, "--prompt", "the word"]);
    assert!(e.contains("has no `{}`"), "{e}");
    let e = error_of(&["attack", "--model", &m, "--backing", "paper"]);
    assert!(e.contains("trained, label, ink"), "{e}");
    // Files: missing, not a bundle.
    let e = error_of(&["attack", "--model", "/nonexistent/model.msb"]);
    assert!(
        e.contains("cannot read the model `/nonexistent/model.msb`"),
        "{e}"
    );
    let not_a_bundle = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let e = error_of(&["neurons", "--model", not_a_bundle, "--layer", first]);
    assert!(e.contains("not a modalscope bundle"), "{e}");
    // Neither --units nor --concept.
    let (ok, _, stderr) = modalscope(&["lesion", "--model", &m, "--layer", first]);
    assert!(!ok && stderr.contains("--units"), "{stderr}");
}

#[test]
fn analyses_print_tables_and_json_on_the_builtin_model() {
    let m = builtin();
    // An early layer of neurons (the analyses are quick there) and the layer the projection
    // reads, for whichever tower is shipped.
    let clip = builtin_study().clip;
    let (second, pooled) = (&clip.neuron_layers()[1], &clip.pooled_layer());
    let (ok, stdout, stderr) = modalscope(&[
        "neurons",
        "--model",
        &m,
        "--layer",
        second,
        "--top",
        "3",
        "--per-concept",
        "2",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let neurons = v["neurons"].as_array().unwrap();
    assert_eq!(neurons.len(), 3);
    assert_eq!(neurons[0]["modalities"].as_array().unwrap().len(), 2);
    assert!(neurons[0]["text_alignment"].is_number());
    assert_eq!(v["concepts"].as_array().unwrap().len(), 30);

    let args = [
        "directions",
        "--model",
        &m,
        "--layer",
        pooled,
        "--per-concept",
        "3",
    ];
    let (ok, stdout, stderr) = modalscope(&[&args[..], &["--json"]].concat());
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let directions = v["directions"].as_array().unwrap();
    let units = clip.layer_units(pooled).unwrap();
    assert_eq!(directions.len(), 30);
    for (c, d) in directions.iter().enumerate() {
        assert_eq!(d["concept"].as_u64(), Some(c as u64));
        let auroc = d["auroc"].as_array().unwrap();
        assert_eq!(auroc.len(), 2);
        assert!(
            auroc
                .iter()
                .all(|a| (0.0..=1.0).contains(&a.as_f64().unwrap()))
        );
        let spread = d["spread"].as_f64().unwrap();
        assert!(spread > 0.0 && spread <= units as f64, "{d}");
    }
    let (ok, stdout, stderr) = modalscope(&args);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("{pooled}: concept directions")),
        "{stdout}"
    );
    // One row per concept, ranked 1 to 30.
    for name in v["concepts"].as_array().unwrap() {
        assert!(stdout.contains(name.as_str().unwrap()), "{name}: {stdout}");
    }
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with("30 ")),
        "{stdout}"
    );

    let (ok, stdout, stderr) = modalscope(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        second,
        "--units",
        "0-3",
        "--mean",
        "--per-concept",
        "1",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("mean ablation of 4 unit(s) of {second}: 0,1,2,3")),
        "{stdout}"
    );
    assert!(stdout.contains("reproduce: modalscope lesion"), "{stdout}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("% ->") && !l.trim_start().starts_with("overall"))
            .count(),
        30,
        "{stdout}"
    );

    let (ok, stdout, stderr) = modalscope(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        second,
        "--concept",
        "star",
        "--count",
        "2",
        "--per-concept",
        "1",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["target_concept"], "star");
    assert_eq!(v["chosen_by"], "multimodal");
    assert_eq!(
        v["report"]["lesions"][0]["units"].as_array().unwrap().len(),
        2
    );
    // The units a concept needs: chosen by what silencing each costs it, in the table's
    // heading and the JSON, and the same units the study picks.
    let needed = |json: bool| {
        let mut args = vec![
            "lesion",
            "--model",
            &m,
            "--layer",
            pooled,
            "--concept",
            "star",
            "--count",
            "3",
            "--mean",
            "--choose",
            "needed",
            "--per-concept",
            "2",
        ];
        if json {
            args.push("--json");
        }
        let (ok, stdout, stderr) = modalscope(&args);
        assert!(ok, "{stderr}");
        stdout
    };
    let stdout = needed(false);
    assert!(
        stdout.contains("(the 3 units `star` needs most: silenced one at a time"),
        "{stdout}"
    );
    let v: serde_json::Value = serde_json::from_str(&needed(true)).unwrap();
    assert_eq!(v["chosen_by"], "needed");
    let study = builtin_study();
    let star = study.concepts().iter().position(|&c| c == "star").unwrap();
    let probe = study.probe_sets(2);
    let means = study.hold_values(pooled, true, &probe).unwrap();
    let expected: Vec<usize> = study
        .units_needed(pooled, star, 3, &means, &probe)
        .unwrap()
        .iter()
        .map(|c| c.unit)
        .collect();
    let got: Vec<usize> = v["report"]["lesions"][0]["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(got, expected);

    let (ok, stdout, stderr) = modalscope(&["attack", "--model", &m, "--per-concept", "1"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("predictions flipped to the written word"),
        "{stdout}"
    );
    assert!(
        stdout.contains("classified against the prompts `{}`, `a {}`, `a drawing of a {}`"),
        "{stdout}"
    );
    // Bigger letters attack other images: the clean accuracy stays, the report says the size.
    let attack_json = |extra: &[&str]| {
        let mut args = vec!["attack", "--model", &m, "--per-concept", "2", "--json"];
        args.extend_from_slice(extra);
        let (ok, stdout, stderr) = modalscope(&args);
        assert!(ok, "{stderr}");
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
    };
    let (plain, big) = (attack_json(&[]), attack_json(&["--letter-height", "0.4"]));
    assert_eq!(plain["letter_height"], serde_json::Value::Null);
    assert!((big["letter_height"].as_f64().unwrap() - 0.4).abs() < 1e-6);
    assert_eq!(
        plain["report"]["clean_accuracy"],
        big["report"]["clean_accuracy"]
    );
    assert_ne!(plain["report"]["concepts"], big["report"]["concepts"]);
    // So do words on paper labels, in big letters the study's attack: they flip more of the
    // 60 drawings to the word than the same letters in ink (measured 67 % against 52 %).
    assert_eq!(plain["backing"], "trained");
    let label = attack_json(&["--backing", "label", "--letter-height", "0.3"]);
    let ink = attack_json(&["--backing", "ink", "--letter-height", "0.3"]);
    assert_eq!(
        (&label["backing"], &ink["backing"]),
        (&"label".into(), &"ink".into())
    );
    assert_eq!(
        label["report"]["clean_accuracy"],
        plain["report"]["clean_accuracy"]
    );
    let flips = |v: &serde_json::Value| v["report"]["flip_rate"].as_f64().unwrap();
    assert!(
        flips(&label) > flips(&ink),
        "labels flip {} of the drawings, ink {}",
        flips(&label),
        flips(&ink)
    );
    // Every attacked drawing holds its label, flips to the word, or lands on a third concept,
    // which the report counts by concept.
    let report = &plain["report"];
    let elsewhere: Vec<u64> = report["elsewhere"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert_eq!(elsewhere.len(), plain["concepts"].as_array().unwrap().len());
    let attacked: f64 = report["concepts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["attacked"].as_f64().unwrap())
        .sum();
    let held_or_flipped = attacked
        * (report["attacked_accuracy"].as_f64().unwrap() + report["flip_rate"].as_f64().unwrap());
    assert_eq!(
        elsewhere.iter().sum::<u64>(),
        (attacked - held_or_flipped).round() as u64
    );
    // --prompt is what the classes are read from: `the word {}` alone names drawings far
    // less well than the shared prompts (measured 60 % against 92 % on these 60 drawings).
    assert_eq!(plain["prompts"].as_array().unwrap().len(), 4);
    let word = attack_json(&["--prompt", "the word {}"]);
    assert_eq!(word["prompts"], serde_json::json!(["the word {}"]));
    let accuracy = |v: &serde_json::Value| v["report"]["clean_accuracy"].as_f64().unwrap();
    assert!(
        accuracy(&word) < accuracy(&plain) - 0.15,
        "clean drawings: `the word {{}}` {} against the shared prompts {}",
        accuracy(&word),
        accuracy(&plain)
    );
    let (ok, stdout, stderr) = modalscope(&["attack", "--model", &m, "--per-concept", "2"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("landed on a third concept: "),
        "the built-in model's attacks land elsewhere too: {stdout}"
    );

    let (ok, stdout, stderr) = modalscope(&[
        "families",
        "--model",
        &m,
        "--layer",
        second,
        "--k",
        "4",
        "--per-concept",
        "2",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("4 families"), "{stdout}");
}

#[test]
fn zero_shot_reports_every_concept_and_where_the_errors_go() {
    let m = builtin();
    let json = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["zero-shot", "--model", &m, "--per-concept", "4", "--json"];
        args.extend_from_slice(extra);
        let (ok, stdout, stderr) = modalscope(&args);
        assert!(ok, "{args:?}: {stderr}");
        serde_json::from_str(&stdout).unwrap()
    };
    let accuracy = |v: &serde_json::Value, i: usize| {
        v["modalities"][i]["report"]["accuracy"].as_f64().unwrap()
    };

    let shared = json(&[]);
    assert_eq!(shared["prompts"].as_array().unwrap().len(), 4);
    for (i, modality) in ["drawn", "written"].into_iter().enumerate() {
        let entry = &shared["modalities"][i];
        assert_eq!(entry["modality"], modality);
        let r = &entry["report"];
        let classes = r["classes"].as_array().unwrap();
        assert_eq!(classes.len(), 30, "every concept has images");
        let share = |c: &serde_json::Value| {
            assert_eq!(c["total"], 4);
            c["right"].as_f64().unwrap() / 4.0
        };
        assert!(
            classes.windows(2).all(|w| share(&w[0]) <= share(&w[1])),
            "worst concepts first"
        );
        let right: u64 = classes.iter().map(|c| c["right"].as_u64().unwrap()).sum();
        // The same share, summed in another order (equal to the last bit only by chance).
        assert!(
            (accuracy(&shared, i) - right as f64 / 120.0).abs() < 1e-12,
            "{} vs {right} of 120",
            accuracy(&shared, i)
        );
        // Every error is one confusion, counted once, most frequent first.
        let confusions = r["confusions"].as_array().unwrap();
        let counts: Vec<u64> = confusions
            .iter()
            .map(|c| c["count"].as_u64().unwrap())
            .collect();
        assert_eq!(counts.iter().sum::<u64>(), 120 - right);
        assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
        assert!(confusions.iter().all(|c| c["class"] != c["predicted"]));
    }

    // The training's own evaluation, a separate implementation, on the same held-out images
    // and prompts (within one image of 120 for float ties).
    let bytes = std::fs::read(&m).unwrap();
    let (clip, files) =
        modalscope_model::Clip::<burn::backend::Flex>::from_bundle(&bytes, &Default::default())
            .unwrap();
    let tok = modalscope_train::tokenizer(&files.unwrap(), clip.config().text.context_length);
    let (drawn, written) = modalscope_train::zero_shot(&clip, &tok, 4);
    assert!(
        (accuracy(&shared, 0) - drawn).abs() <= 1.0 / 120.0 + 1e-9,
        "{drawn}"
    );
    assert!(
        (accuracy(&shared, 1) - written).abs() <= 1.0 / 120.0 + 1e-9,
        "{written}"
    );

    // --prompt is what the text tower reads: the built-in model reads a written name far better
    // as "the word {}" than as "a drawing of a {}".
    let word = json(&["--modality", "written", "--prompt", "the word {}"]);
    let drawing = json(&["--modality", "written", "--prompt", "a drawing of a {}"]);
    assert_eq!(word["modalities"].as_array().unwrap().len(), 1);
    assert_eq!(word["prompts"], serde_json::json!(["the word {}"]));
    assert!(
        accuracy(&word, 0) > accuracy(&drawing, 0) + 0.15,
        "{} / {}",
        accuracy(&word, 0),
        accuracy(&drawing, 0)
    );

    let (ok, table, stderr) = modalscope(&[
        "zero-shot",
        "--model",
        &m,
        "--per-concept",
        "2",
        "--confusions",
        "3",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        table.contains("\ndrawn: ") && table.contains("\nwritten: "),
        "{table}"
    );
    assert_eq!(table.matches("most confused: ").count(), 2, "{table}");
    assert!(table.lines().any(|l| l.starts_with("mushroom ")), "{table}");

    let e = error_of(&["zero-shot", "--model", &m, "--prompt", "the word"]);
    assert!(e.contains("has no `{}`"), "{e}");
    let e = error_of(&["zero-shot", "--model", &m, "--per-concept", "0"]);
    assert!(e.contains("--per-concept must be at least 1"), "{e}");
}
