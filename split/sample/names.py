"""Japanese names, places and numbers that look real, drawn deterministically from a `random.Random`.

Own small tables instead of Faker: they are fast at millions of rows and stable across versions.
"""

from __future__ import annotations

import random

SURNAMES = [  # (kanji, kana, romaji)
    ("佐藤", "サトウ", "sato"),
    ("鈴木", "スズキ", "suzuki"),
    ("高橋", "タカハシ", "takahashi"),
    ("田中", "タナカ", "tanaka"),
    ("伊藤", "イトウ", "ito"),
    ("渡辺", "ワタナベ", "watanabe"),
    ("山本", "ヤマモト", "yamamoto"),
    ("中村", "ナカムラ", "nakamura"),
    ("小林", "コバヤシ", "kobayashi"),
    ("加藤", "カトウ", "kato"),
    ("吉田", "ヨシダ", "yoshida"),
    ("山田", "ヤマダ", "yamada"),
    ("佐々木", "ササキ", "sasaki"),
    ("山口", "ヤマグチ", "yamaguchi"),
    ("松本", "マツモト", "matsumoto"),
    ("井上", "イノウエ", "inoue"),
    ("木村", "キムラ", "kimura"),
    ("林", "ハヤシ", "hayashi"),
    ("清水", "シミズ", "shimizu"),
    ("山崎", "ヤマザキ", "yamazaki"),
    ("森", "モリ", "mori"),
    ("池田", "イケダ", "ikeda"),
    ("橋本", "ハシモト", "hashimoto"),
    ("阿部", "アベ", "abe"),
    ("石川", "イシカワ", "ishikawa"),
    ("前田", "マエダ", "maeda"),
    ("藤田", "フジタ", "fujita"),
    ("岡田", "オカダ", "okada"),
    ("後藤", "ゴトウ", "goto"),
    ("長谷川", "ハセガワ", "hasegawa"),
    ("村上", "ムラカミ", "murakami"),
    ("近藤", "コンドウ", "kondo"),
    ("坂本", "サカモト", "sakamoto"),
    ("遠藤", "エンドウ", "endo"),
    ("青木", "アオキ", "aoki"),
    ("藤井", "フジイ", "fujii"),
    ("西村", "ニシムラ", "nishimura"),
    ("福田", "フクダ", "fukuda"),
    ("太田", "オオタ", "ota"),
    ("三浦", "ミウラ", "miura"),
    ("岡本", "オカモト", "okamoto"),
    ("松田", "マツダ", "matsuda"),
    ("中川", "ナカガワ", "nakagawa"),
    ("中野", "ナカノ", "nakano"),
    ("原田", "ハラダ", "harada"),
    ("小川", "オガワ", "ogawa"),
    ("竹内", "タケウチ", "takeuchi"),
    ("辻", "ツジ", "tsuji"),
]

GIVEN_NAMES = [  # (kanji, kana)
    ("翔太", "ショウタ"),
    ("大輔", "ダイスケ"),
    ("健一", "ケンイチ"),
    ("拓也", "タクヤ"),
    ("直樹", "ナオキ"),
    ("和也", "カズヤ"),
    ("誠", "マコト"),
    ("浩二", "コウジ"),
    ("隆", "タカシ"),
    ("蓮", "レン"),
    ("陽翔", "ハルト"),
    ("悠真", "ユウマ"),
    ("湊", "ミナト"),
    ("大和", "ヤマト"),
    ("修", "オサム"),
    ("美咲", "ミサキ"),
    ("陽子", "ヨウコ"),
    ("由美", "ユミ"),
    ("恵子", "ケイコ"),
    ("裕子", "ユウコ"),
    ("さくら", "サクラ"),
    ("結衣", "ユイ"),
    ("葵", "アオイ"),
    ("陽菜", "ヒナ"),
    ("真由美", "マユミ"),
    ("久美子", "クミコ"),
    ("智子", "トモコ"),
    ("明美", "アケミ"),
    ("花子", "ハナコ"),
    ("千尋", "チヒロ"),
]

PLACES = [  # (prefecture, city, towns, postal prefix, phone area code)
    ("大阪府", "大阪市北区", ["梅田", "中之島", "天満", "西天満"], "530", "06"),
    ("大阪府", "大阪市中央区", ["難波", "心斎橋筋", "本町", "谷町"], "542", "06"),
    ("大阪府", "堺市堺区", ["中瓦町", "南瓦町", "熊野町東"], "590", "072"),
    ("大阪府", "豊中市", ["新千里東町", "服部元町", "庄内西町"], "560", "06"),
    ("京都府", "京都市下京区", ["烏丸通", "四条通", "東塩小路町"], "600", "075"),
    ("京都府", "京都市左京区", ["岡崎", "北白川", "下鴨"], "606", "075"),
    ("兵庫県", "神戸市中央区", ["三宮町", "元町通", "北野町"], "650", "078"),
    ("兵庫県", "西宮市", ["甲子園町", "北口町", "苦楽園"], "662", "0798"),
    ("奈良県", "奈良市", ["三条大路", "西大寺", "登大路町"], "630", "0742"),
    ("滋賀県", "大津市", ["浜大津", "膳所", "瀬田"], "520", "077"),
    ("和歌山県", "和歌山市", ["本町", "美園町", "友田町"], "640", "073"),
]
BUILDINGS = ["", "", "", "", "ハイツ梅", "コーポ桜", "メゾン北野", "グランドパレス", "サンシャイン"]


def person(rng: random.Random) -> tuple[str, str, str]:
    """(kanji name, kana name, romaji surname)."""
    s_kanji, s_kana, s_roman = rng.choice(SURNAMES)
    g_kanji, g_kana = rng.choice(GIVEN_NAMES)
    return f"{s_kanji} {g_kanji}", f"{s_kana} {g_kana}", s_roman


def address(rng: random.Random) -> tuple[str, str, str]:
    """(postal code NNN-NNNN, full address, phone area code)."""
    pref, city, towns, postal, area = rng.choice(PLACES)
    town = rng.choice(towns)
    block = f"{rng.randint(1, 5)}丁目{rng.randint(1, 30)}-{rng.randint(1, 20)}"
    building = rng.choice(BUILDINGS)
    room = f" {building}{rng.randint(1, 9)}0{rng.randint(1, 9)}号室" if building else ""
    return f"{postal}-{rng.randint(0, 9999):04d}", f"{pref}{city}{town}{block}{room}", area


def phone(rng: random.Random, area_code: str) -> str:
    """A fixed line in the customer's area (local digits to make ten) or a mobile number."""
    if rng.random() < 0.55:
        return f"{rng.choice(['090', '080', '070'])}-{rng.randint(1000, 9999)}-{rng.randint(0, 9999):04d}"
    local = 6 - len(area_code)  # 06-NNNN-NNNN, 075-NNN-NNNN, 0798-NN-NNNN
    return f"{area_code}-{rng.randint(10 ** (local - 1) * 2, 10**local - 1)}-{rng.randint(0, 9999):04d}"


def email(rng: random.Random, romaji: str) -> str | None:
    if rng.random() < 0.35:
        return None
    return f"{romaji}{rng.randint(1, 999)}@{rng.choice(['example.ne.jp', 'example.co.jp', 'example.jp'])}"
