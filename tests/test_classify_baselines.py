"""Baseline classifiers: sklearn conventions, the keyword rules on THEMES.md examples, and
held-out-document quality of the trained baselines on hand-written policy paragraphs."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from policy_nlp.classify import (
    CachedEncoder,
    EmbeddingLogRegClassifier,
    KeywordClassifier,
    LabelledSet,
    TfidfLogRegClassifier,
    leave_one_document_out,
    load_taxonomy,
    tune_thresholds,
)
from policy_nlp.errors import ModelError

TAXONOMY = load_taxonomy()
CORE = TAXONOMY.core_ids
P, D, T, S = "party_building", "double_reduction", "teachers", "safety"

# (doc_id, text, core themes): six documents written like county bureau reports.
PARAGRAPHS = [
    ("A", "(一)全面加强党的建设。坚持和完善中小学校党组织领导的校长负责制,全县52所中小学全部完成章程修订,健全议事决策制度。深化'一校一品'党建品牌创建,评选示范党支部8个,发展教师党员36名。", [P]),
    ("A", "(二)纵深推进'双减'工作。全县义务教育学校课后服务实现全覆盖,参与率达96%,开设特色课程320门。开展校外培训机构专项治理,查处无证办学点14个,预收费资金全部纳入监管。", [D]),
    ("A", "(三)建强教师队伍。公开招聘新教师120名,推进'县管校聘'管理改革,交流轮岗校长教师186人次。开展全员培训,评选县级骨干教师60名、名班主任15名。", [T]),
    ("A", "(四)守牢校园安全底线。实施护学岗制度,全县学校专职保安配备率100%,一键报警和视频监控全部联网。开展防溺水专项行动,组织应急疏散演练400余场次,全年未发生重大安全责任事故。", [S]),
    ("A", "(五)改善办学条件。投资1.2亿元新建城北小学,改扩建第三中学教学楼,新增学位2400个,完成12所学校运动场改造。", []),
    ("A", "(六)落实意识形态工作责任制。开展意识形态领域风险排查,加强校园网站和宣传阵地管理;健全信访维稳工作机制,及时化解涉教矛盾纠纷23件。", [P, S]),
    ("B", "1.坚持党对教育工作的全面领导。深入推进全面从严治党,压实党组织书记抓党建第一责任,严格落实'三会一课'制度,打造清廉学校示范校10所。", [P]),
    ("B", "2.巩固'双减'成果。严格控制书面作业总量,推行分层作业和弹性作业设计,落实睡眠、手机、读物管理要求,持续开展隐形变异学科类培训排查整治。", [D]),
    ("B", "3.加强师德师风建设。将师德表现作为教师职称评审、评优评先的首要标准,严肃查处在职教师有偿补课和收受家长礼品礼金行为,实行师德失范一票否决。", [T]),
    ("B", "4.强化食品安全管理。落实校长陪餐制度,推进'明厨亮灶'全覆盖,开展学校食堂食品安全专项检查,确保师生饮食安全。", [S]),
    ("B", "5.实施名校长名师培养工程。选拔培养名校长10名、学科带头人40名,建立名师工作室12个,对乡村教师实行职称评审倾斜。", [T]),
    ("B", "2025年,全区教育系统将以习近平新时代中国特色社会主义思想为指导,在区委区政府坚强领导下,全面贯彻党的教育方针,落实立德树人根本任务,奋力推进教育强区建设。", []),
    ("C", "(一)提升课后服务质量。推行'5+2'课后服务模式,引入非遗、体育、科技等社会资源进校园,课后服务时间内安排作业辅导,切实减轻学生课业负担。", [D]),
    ("C", "(二)开展安全隐患大排查。联合公安、消防、市场监管部门检查学校及周边场所86家,整改隐患132处,加强校车运营管理和交通安全教育。", [S]),
    ("C", "(三)推进教师交流轮岗。全年交流城区教师到乡村学校任教98名,实施'银龄讲学计划',招募退休教师走教支教,缓解乡村学校音体美教师紧缺。", [T]),
    ("C", "(四)深化清廉学校建设。开展警示教育和纪律教育,组织党员干部观看警示教育片,对招生、采购、基建等重点领域开展廉政风险排查。", [P]),
    ("C", "(五)加强学生心理危机干预。建立心理健康筛查和预警机制,对重点学生'一人一档'跟踪,联合医院开通心理危机绿色通道,防范极端事件发生。", [S]),
    ("C", "(六)推进教育信息化。建成智慧教育云平台,实现'三个课堂'常态化应用,全区班班通配备率达100%。", []),
    ("D", "一、加强党建引领。开展主题教育,组织基层党组织书记培训2期,推动党建与业务深度融合,创建'红烛先锋'党建品牌。", [P]),
    ("D", "二、规范校外培训。完成校外培训机构风险保证金缴纳和资金托管账户开通,对无证机构开展联合检查,取缔违规培训点9个。", [D]),
    ("D", "三、补充教师编制。统筹用好编制周转池,为农村学校补充特岗教师45名、公费定向师范生30名,落实乡村教师生活补助。", [T]),
    ("D", "四、狠抓防溺水工作。汛期前对辖区河塘水库开展隐患排查,设置警示牌1200块,落实'六不'要求,家校签订安全责任书。", [S]),
    ("D", "五、加强作业管理。建立作业公示制度,小学一二年级不布置书面家庭作业,三至六年级书面作业平均完成时间不超过60分钟。", [D]),
    ("D", "六、推进学前教育普惠发展。新增普惠性民办幼儿园6所,全县普惠性幼儿园覆盖率达92%。", []),
    ("E", "(一)建设平安校园。推进人防物防技防建设,中小学幼儿园封闭化管理达标率100%,开展防欺凌专项治理和法治副校长进校园活动。", [S]),
    ("E", "(二)落实党组织领导的校长负责制。制定学校党组织会议和校长办公会议事规则,完成18所中学党组织书记和校长分设。", [P]),
    ("E", "(三)加强教研队伍建设。配齐学科专职教研员,组建县级学科中心组,开展新教师岗前培训和青年教师教学比武。", [T]),
    ("E", "(四)落实'五项管理'。严格学生手机管理和睡眠管理,减少考试次数,义务教育阶段不公布考试成绩和排名。", [D]),
    ("E", "(五)加强体育美育工作。落实每天校园体育活动2小时,举办中小学生艺术节,全县学生体质健康达标率达94%。", []),
    ("E", "(六)课后服务期间落实安全管理。校内课后服务时段安排教师值守,放学时段护学岗全覆盖,确保学生离校安全。", [D, S]),
    ("F", "(一)狠抓党风廉政建设。严格落实党风廉政建设责任制,组织开展全系统师德师风问题自查自纠,专项督查教职工违规收受礼品礼金、在职教师校外有偿补课等问题。", [P, T]),
    ("F", "(二)深化'双减'改革。完善课后课程体系,推广托管服务,严厉打击'一对一'家教等隐形变异培训,艺术类校外培训机构全部纳入监管。", [D]),
    ("F", "(三)提升应急处置能力。修订学校突发事件应急预案,组织消防、地震应急演练,配齐应急物资,开展实验室危险化学品安全检查。", [S]),
    ("F", "(四)完善教师激励机制。落实教师工资待遇不低于当地公务员平均水平,绩效工资向班主任和乡村一线教师倾斜,表彰优秀教师200名。", [T]),
    ("F", "(五)提升教育督导质量。完成县域义务教育优质均衡发展督导评估,责任督学挂牌督导实现全覆盖。", []),
    ("F", "(六)规范社会艺术水平考级活动。会同文旅部门审核考级机构资质,公布考级考点名单。", []),
]

# THEMES.md's examples and edge cases, with the core themes they must get.
THEMES_EXAMPLES = [
    ("二是筑牢校园安全屏障。实施平安校园提质工程,配齐'四位一体'防护设备,开展联合执法检查18次,整改安全隐患67处。", {S}),
    ("4.狠抓党风廉政建设。组织开展全系统师德师风问题自查自纠,开展教职工违规收受礼品礼金、在职教师校外有偿补课、中小学教育乱收费等问题专项督查。", {P, T}),
    ("(五)加大'双减'工作力度。聚集丰富社会资源,完善课后课程体系,深化校外培训整治。", {D}),
    ("(一)基础教育供给体系持续完善。一是精准实施基础建设三年行动。投资2.1亿元推进'温暖校园'工程,新建改扩建7所城乡学校,新增基础教育学位3200个。", set()),
    ("在县委县政府坚强领导下,各级党委和政府高度重视教育工作,全面贯彻党的教育方针。", set()),
    ("规范社会艺术水平考级活动,公布考级考点名单。", set()),
    ("加强思政课建设,开展德育精品课程评选。", set()),
    ("推进'扣好人生第一粒扣子'主题教育实践活动。", set()),
]


def core_set(row: np.ndarray) -> set[str]:
    return {t for t, v in zip(TAXONOMY.ids, row) if v and t in CORE}


def labelled() -> LabelledSet:
    return LabelledSet.from_records(
        ({"doc_id": d, "text": text, "themes": themes} for d, text, themes in PARAGRAPHS), TAXONOMY
    )


class FakeEncoder:
    """Deterministic stand-in for the e5 encoder: L2-normalised hashed character bigrams."""

    dim = 512

    def __init__(self):
        self.encoded = 0  # texts encoded so far

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for a, b in zip(t, t[1:]):
                out[i, zlib.crc32((a + b).encode()) % self.dim] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


FACTORIES = {
    "keyword": lambda: KeywordClassifier(TAXONOMY),
    "tfidf": lambda: TfidfLogRegClassifier(ngram_range=(1, 2)),
    "embedding": lambda: EmbeddingLogRegClassifier(encoder=FakeEncoder()),
}


@pytest.fixture(scope="module")
def data() -> LabelledSet:
    return labelled()


@pytest.mark.parametrize("name", FACTORIES)
def test_estimator_conventions(name, data):
    est = FACTORIES[name]()
    params = est.get_params()
    assert set(params) == set(type(est).__init__.__code__.co_varnames[1 : type(est).__init__.__code__.co_argcount])
    twin = clone(est)
    assert twin is not est and type(twin) is type(est)
    with pytest.raises(NotFittedError):
        est.predict(data.texts[:2])
    before = set(vars(est))
    assert est.fit(data.texts, data.Y) is est
    learned = set(vars(est)) - before
    assert learned and all(a.endswith("_") and not a.startswith("_") for a in learned)
    assert est.get_params().keys() == params.keys()
    proba = est.predict_proba(data.texts[:5])
    assert proba.shape == (5, len(TAXONOMY)) and ((0 <= proba) & (proba <= 1)).all()
    pred = est.predict(data.texts[:5])
    assert pred.dtype == np.int8 and pred.shape == (5, len(TAXONOMY))
    with pytest.raises(TypeError):
        est.predict("一段文字")
    assert not hasattr(clone(est), "thresholds_")


def test_keyword_classifier_follows_themes_md():
    model = KeywordClassifier().fit([t for t, _ in THEMES_EXAMPLES])
    pred = model.predict([t for t, _ in THEMES_EXAMPLES])
    for (text, expected), row in zip(THEMES_EXAMPLES, pred):
        assert core_set(row) == expected, text
    # the construction example is taken by the extended theme
    assert pred[3, TAXONOMY.ids.index("school_construction")] == 1


def test_keyword_exclusions_mask_phrases():
    model = KeywordClassifier().fit(["x"])
    p = model.predict(["开展国家安全教育主题活动。", "落实乡村教师生活补助。", "推进学校委托管理改革。", "查处在职教师有偿补课。"])
    assert p[0, TAXONOMY.ids.index("safety")] == 0 and p[0, TAXONOMY.ids.index("moral_education")] == 1
    assert p[1, TAXONOMY.ids.index("student_aid")] == 0 and p[1, TAXONOMY.ids.index("teachers")] == 1
    assert p[2, TAXONOMY.ids.index("double_reduction")] == 0
    assert p[3, TAXONOMY.ids.index("vocational")] == 0 and p[3, TAXONOMY.ids.index("teachers")] == 1


def test_keyword_score_grows_with_matches():
    model = KeywordClassifier().fit(["x"])
    j = TAXONOMY.ids.index("safety")
    one, three = model.predict_proba(["开展防欺凌教育。", "开展防欺凌教育,排查安全隐患,组织应急演练。"])[:, j]
    assert one == 0.5 and three == pytest.approx(0.875)


def test_fit_rejects_bad_label_matrix(data):
    with pytest.raises(ValueError, match="shape"):
        TfidfLogRegClassifier().fit(data.texts, data.Y[:-1])
    with pytest.raises(ValueError, match="0 and 1"):
        TfidfLogRegClassifier().fit(data.texts, data.Y * 2)


def test_theme_without_positives_is_predicted_zero(data):
    model = TfidfLogRegClassifier().fit(data.texts, data.Y)
    none = [j for j in range(len(TAXONOMY)) if not data.Y[:, j].any()]
    assert none  # the extended themes have no labels in this set
    assert (model.predict_proba(data.texts)[:, none] == 0).all()


def test_thresholds_are_applied(data):
    model = TfidfLogRegClassifier().fit(data.texts, data.Y)
    proba = model.predict_proba(data.texts)
    j = TAXONOMY.ids.index("safety")
    model.thresholds_ = np.full(len(TAXONOMY), 0.5)
    model.thresholds_[j] = np.sort(proba[:, j])[-3]  # only the three top-scoring paragraphs
    pred = model.predict(data.texts)
    assert pred[:, j].sum() == 3
    model.thresholds_[j] = 0.0
    assert model.predict(data.texts)[:, j].sum() == len(data)
    assert (model.predict(data.texts)[:, :j] == pred[:, :j]).all()


def test_embedding_classifier_accepts_texts_or_embeddings(data):
    enc = FakeEncoder()
    by_text = EmbeddingLogRegClassifier(encoder=enc).fit(data.texts, data.Y)
    by_vec = EmbeddingLogRegClassifier().fit(enc.encode_passages(data.texts), data.Y)
    held = ["组织防溺水安全教育和应急演练。"]
    np.testing.assert_allclose(by_text.predict_proba(held), by_vec.predict_proba(enc.encode_passages(held)))
    with pytest.raises(ModelError, match="no encoder"):
        by_vec.predict_proba(held)
    with pytest.raises(ValueError, match="dimensions"):
        by_vec.predict_proba(np.zeros((1, 7), dtype=np.float32))


def test_tune_thresholds_maximises_f1():
    y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    p = np.array([[0.9, 0.9], [0.3, 0.1], [0.2, 0.2], [0.1, 0.1]])
    t = tune_thresholds(y, p)
    assert t[0] == 0.3  # 0.25 and 0.3 both separate the classes; the tie goes to the one nearer 0.5
    assert t[1] == 0.5  # no positives: keep the default


def assert_beats_chance(result, data: LabelledSet) -> None:
    prevalence = data.Y[:, [TAXONOMY.ids.index(t) for t in CORE]].mean(axis=0)
    all_positive_f1 = float(np.mean(2 * prevalence / (1 + prevalence)))  # the best label-blind guess
    assert result.n_documents == 6 and result.scheme.startswith("LeaveOneGroupOut")
    assert result.macro_f1_core > all_positive_f1 + 0.2, (result.macro_f1_core, all_positive_f1)
    assert result.micro_f1 > 0.6


def test_tfidf_beats_chance_on_held_out_documents(data):
    assert_beats_chance(leave_one_document_out(FACTORIES["tfidf"], data, theme_ids=CORE), data)


def test_embedding_beats_chance_on_held_out_documents_encoding_each_text_once(data):
    encoder = FakeEncoder()
    cached = CachedEncoder(encoder)
    result = leave_one_document_out(lambda: EmbeddingLogRegClassifier(encoder=cached), data, theme_ids=CORE)
    assert_beats_chance(result, data)
    assert encoder.encoded == len(data)
