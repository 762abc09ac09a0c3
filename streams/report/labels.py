"""Simplified-Chinese labels of the weekly report and the partner exports (one catalogue).

Names as officers write them: jurisdictions 青浦区 / 吴江区 / 嘉善县 / 示范区; rules keep their id
beside the name so that a reader can find the rule in the rule set.
"""

from __future__ import annotations

from core.jurisdictions import JURISDICTIONS, ZONE

ZONE_ZH = "示范区"


def level_zh(code: str) -> str:
    if code == ZONE:
        return ZONE_ZH
    j = JURISDICTIONS.get(code)
    return j.name_zh if j else ("未知辖区" if code == "unknown" else code)


SOURCE_ZH = {
    "remote_sensing": "遥感监测",
    "smoke_capture": "黑烟抓拍",
    "obd_gateway": "远程OBD",
    "fuel_vapor": "油气回收",
}
SEVERITY_ZH = {"info": "提示", "notice": "关注", "warning": "预警", "alarm": "报警", "case": "立案"}
LEVEL_ZH = {"warning": "预警", "alarm": "报警", "normal": "正常"}
STATION_SUBJECT_ZH = {
    "al": "气液比",
    "tightness": "密闭性",
    "liquid_resistance": "液阻",
    "tank_pressure": "油罐压力",
    "zero_pressure": "零压（系统泄漏）",
    "pv": "压力/真空阀",
    "processing": "后处理装置",
}

RULE_ZH = {
    "AMB-NOX": "环境NO2小时均值超过GB 3095二级标准",
    "AMB-VOC": "站点周边环境VOCs异常",
    "BS-CAL": "黑烟抓拍点位校准过期或超差",
    "BS-CONFIRM": "人工复核确认林格曼黑度超标",
    "BS-EVIDENCE": "证据不全，无法确认",
    "BS-NEV": "新能源号牌的黑烟抓拍",
    "BS-SCREEN": "模型判定林格曼黑度超标",
    "DQ-CAL": "校准证书缺失或过期",
    "DQ-COMPLETE": "设备日数据完整率",
    "ENF-DISCRETION": "统一裁量表电子裁量",
    "ENF-FLEET": "用车大户重点监管候选",
    "ENF-MINOR": "轻微首违不予处罚",
    "ENF-NOTIFY": "确认案件告知当事人",
    "ENF-REVIEW": "推送前须人工复核",
    "FV-AL-ALARM": "气液比报警（连续5天及以上超标）",
    "FV-AL-DAY": "油枪气液比超标日",
    "FV-AL-NODATA": "气液比数据不足",
    "FV-AL-WARN": "气液比预警（连续1–4天超标）",
    "FV-FLAGMISMATCH": "设备报警标志与复算状态不符",
    "FV-IDLE": "油枪闲置",
    "FV-ISD-CMP": "ISD式气液比比对",
    "FV-LR": "液阻过高（在线曲线）",
    "FV-PROC": "后处理装置排放浓度",
    "FV-PUMP": "真空泵故障",
    "FV-PV": "压力/真空阀临界压力",
    "FV-SHIELD": "疑似屏蔽模式（气液比过于理想）",
    "FV-SLOW": "加油机流速过低",
    "FV-UNIT": "气液比单位归一",
    "FV-ZP": "油罐零压（系统敞开或泄漏）",
    "GW-SENSOR": "地下水VOCs/石油类异常",
    "OBD-BACKFILL": "补发数据超出补传时限",
    "OBD-CLOCK": "终端时钟偏差",
    "OBD-DAILY": "行驶日无OBD信息包",
    "OBD-EMU": "疑似模拟器/NOx传感器篡改/无尿素",
    "OBD-GAP": "发动机运行时数据流中断",
    "OBD-GPS": "定位数据质量",
    "OBD-IDCHG": "标定号或CVN变更",
    "OBD-MIL": "行驶日MIL灯亮或有故障码",
    "OBD-NOX-KM": "单位里程NOx超出合理范围（仅提示）",
    "OBD-NOX-WIN": "功基窗口NOx（仅提示）",
    "OBD-OFFLINE": "终端离线",
    "OBD-SCR": "催化器热态下SCR转化效率低",
    "OBD-SIG": "签名缺失或无效",
    "OD-PROC": "储油库后处理装置排放或效率",
    "OD-TRUCK": "装油时油罐车隔舱压力",
    "RS-D-NO": "柴油车NO遥感超标",
    "RS-D-OPA": "柴油车不透光度遥感超标",
    "RS-D-RING": "柴油车林格曼黑度超过1级",
    "RS-FIRST": "窗口内首次有效超标",
    "RS-G-CO": "汽油车CO遥感超标",
    "RS-G-HC": "汽油车HC遥感超标（暂定）",
    "RS-G-NO": "汽油车NO遥感超标",
    "RS-LIMIT-AUDIT": "设备限值与示范区限值不一致",
    "RS-PLATE": "号牌未识别或置信度低",
    "RS-RECALC": "复算值与设备值不一致",
    "RS-REPEAT": "六个自然月内重复超标",
    "RS-VALID": "记录未通过有效性筛查",
}


def rule_zh(rule_id: str) -> str:
    return RULE_ZH.get(rule_id, rule_id)


PLATE_COLOUR_ZH = {
    "blue": "蓝",
    "yellow": "黄",
    "green": "绿",
    "yellow_green": "黄绿",
    "white": "白",
    "black": "黑",
    "unknown": "未知",
}

CASES_UNAVAILABLE = "案件数据暂不可用"
