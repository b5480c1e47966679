"""Translated messages: every user-facing text has a key and a Chinese and English form.

Chinese is the first language of the product; English is the second. A message key that is
missing a translation is a bug caught by tests/unit/test_i18n.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Locale = Literal["zh", "en"]
LOCALES: tuple[Locale, ...] = ("zh", "en")

MESSAGES: dict[str, dict[Locale, str]] = {
    # errors: generic
    "not_found": {"zh": "未找到：{what}", "en": "Not found: {what}"},
    "route_not_found": {"zh": "没有这个地址：{path}", "en": "No such address: {path}"},
    "method_not_allowed": {"zh": "不支持该请求方法", "en": "Method not allowed"},
    "validation_error": {
        "zh": "请求有误：{details}",
        "en": "Invalid request: {details}",
    },
    "internal_error": {"zh": "服务器内部错误", "en": "Internal server error"},
    # errors: authentication and permission
    "not_authenticated": {"zh": "请先登录", "en": "Please log in first"},
    "wrong_credentials": {"zh": "用户名或密码错误", "en": "Wrong username or password"},
    "account_disabled": {"zh": "该账号已停用", "en": "This account is disabled"},
    "token_expired": {
        "zh": "登录已过期，请重新登录",
        "en": "Your session has expired, please log in again",
    },
    "token_invalid": {"zh": "无效的访问令牌", "en": "Invalid access token"},
    "api_key_invalid": {"zh": "无效的 API 密钥", "en": "Invalid API key"},
    "forbidden_role": {
        "zh": "角色“{role}”无权执行此操作",
        "en": "The role '{role}' may not do this",
    },
    "forbidden_area": {
        "zh": "区域 {code} 不在您的管辖范围内",
        "en": "Area {code} is outside your area of responsibility",
    },
    # errors: areas
    "area_not_found": {"zh": "区域编码 {code} 不存在", "en": "Unknown area code {code}"},
    "department_not_found": {
        "zh": "部门编码 {code} 不存在",
        "en": "Unknown department code {code}",
    },
    "department_exists": {"zh": "部门编码 {code} 已存在", "en": "Department code {code} exists"},
    "unknown_level": {
        "zh": "未知层级“{level}”，可选：{allowed}",
        "en": "Unknown level '{level}', expected one of: {allowed}",
    },
    "lat_out_of_range": {
        "zh": "纬度 {lat} 超出范围（-90 至 90）",
        "en": "Latitude {lat} is out of range (-90 to 90)",
    },
    "lon_out_of_range": {
        "zh": "经度 {lon} 超出范围（-180 至 180）",
        "en": "Longitude {lon} is out of range (-180 to 180)",
    },
    "lat_lon_swapped": {
        "zh": "纬度与经度似乎填反了：lat={lat}, lon={lon}；请交换后重试",
        "en": "Latitude and longitude look swapped: lat={lat}, lon={lon}; swap them and retry",
    },
    "outside_city": {
        "zh": "坐标（lat={lat}, lon={lon}）不在本市任何网格内",
        "en": "The point (lat={lat}, lon={lon}) is outside every grid of the city",
    },
    "no_grids": {
        "zh": "尚未导入任何网格，无法定位",
        "en": "No grids have been imported yet, so nothing can be located",
    },
    # import problems (rejected features)
    "geojson_malformed": {
        "zh": "GeoJSON 格式错误（第 {line} 行第 {column} 列）：{reason}",
        "en": "Malformed GeoJSON (line {line}, column {column}): {reason}",
    },
    "geojson_not_collection": {
        "zh": "GeoJSON 顶层必须是 FeatureCollection、Feature 或几何对象，实际为 {found}",
        "en": "GeoJSON must be a FeatureCollection, a Feature or a geometry, found {found}",
    },
    "file_not_found": {"zh": "文件不存在：{path}", "en": "File not found: {path}"},
    "file_encoding": {
        "zh": "文件 {path} 不是 UTF-8 编码",
        "en": "File {path} is not UTF-8 encoded",
    },
    "shapefile_unreadable": {
        "zh": "无法读取 Shapefile {path}：{reason}",
        "en": "Cannot read the Shapefile {path}: {reason}",
    },
    "shapefile_projected": {
        "zh": "Shapefile {path} 使用投影坐标系“{projection}”，"
        "请先转换为经纬度（WGS84 或 CGCS2000）",
        "en": "The Shapefile {path} uses the projected system '{projection}'; convert it to "
        "longitude/latitude (WGS84 or CGCS2000) first",
    },
    "missing_property": {
        "zh": "缺少属性“{field}”",
        "en": "missing property '{field}'",
    },
    "missing_geometry": {"zh": "缺少几何图形", "en": "missing geometry"},
    "bad_geometry": {"zh": "几何图形无法解析：{reason}", "en": "unreadable geometry: {reason}"},
    "not_polygon": {
        "zh": "几何类型为 {found}，应为 Polygon 或 MultiPolygon",
        "en": "geometry is a {found}, expected Polygon or MultiPolygon",
    },
    "invalid_geometry": {
        "zh": "几何图形无效：{reason}",
        "en": "invalid geometry: {reason}",
    },
    "coordinates_out_of_range": {
        "zh": "坐标超出经纬度范围（{sample}），是否为投影坐标或经纬度颠倒？",
        "en": "coordinates out of longitude/latitude range ({sample}); "
        "projected coordinates or swapped axes?",
    },
    "duplicate_code_in_file": {
        "zh": "编码 {code} 在文件中重复（首次出现于第 {first} 个要素）",
        "en": "code {code} appears twice in the file (first at feature {first})",
    },
    "duplicate_code_in_db": {
        "zh": "编码 {code} 已存在（{name}）；如需更新请使用 --update",
        "en": "code {code} already exists ({name}); use --update to replace it",
    },
    "unknown_parent": {
        "zh": "上级区域编码 {code} 不存在",
        "en": "unknown parent area code {code}",
    },
    "wrong_parent_level": {
        "zh": "上级区域 {code} 的层级是 {found}，{level}的上级应为 {expected}",
        "en": "parent {code} is a {found}; the parent of a {level} must be a {expected}",
    },
    "parent_required": {
        "zh": "{level}必须指定上级区域（--parent-code 或 --parent-field）",
        "en": "a {level} needs a parent (--parent-code or --parent-field)",
    },
    "city_has_no_parent": {"zh": "市级区域没有上级", "en": "a city has no parent"},
    "outside_parent": {
        "zh": "有 {percent}% 的面积在上级区域 {code} 之外",
        "en": "{percent}% of its area lies outside its parent {code}",
    },
    "import_rejected": {
        "zh": "导入中止：{count} 个要素被拒绝，未写入任何数据",
        "en": "Import aborted: {count} features rejected, nothing was written",
    },
    "demo_exists": {
        "zh": "数据库中已有区域数据；如需重新生成演示城市请加 --reset（将清空全部数据）",
        "en": "The database already has areas; add --reset to regenerate the demo city "
        "(this empties the database)",
    },
    # accounts
    "unknown_role": {
        "zh": "未知角色“{role}”，可选：{allowed}",
        "en": "Unknown role '{role}', expected one of: {allowed}",
    },
    "user_exists": {"zh": "用户名 {name} 已存在", "en": "The username {name} is taken"},
    "user_not_found": {"zh": "用户 {name} 不存在", "en": "No user named {name}"},
    "password_too_short": {
        "zh": "密码至少需要 {min} 个字符",
        "en": "The password needs at least {min} characters",
    },
    "role_needs_area": {
        "zh": "角色“{role}”必须指定管辖区域（--area）",
        "en": "The role '{role}' needs an area (--area)",
    },
    "grid_worker_needs_grid": {
        "zh": "网格员的管辖区域必须是网格，{code} 是{level}",
        "en": "A grid worker's area must be a grid; {code} is a {level}",
    },
    "handler_needs_department": {
        "zh": "部门办理人员必须指定部门（--department）",
        "en": "A department handler needs a department (--department)",
    },
    # cases
    "case_not_found": {"zh": "案件 {id} 不存在", "en": "Case {id} does not exist"},
    "case_wrong_state": {
        "zh": "案件 {id} 当前状态为“{status}”，不能执行“{action}”；可执行的操作：{allowed}",
        "en": "Case {id} is '{status}', so '{action}' is not possible; allowed: {allowed}",
    },
    "case_unknown_action": {
        "zh": "未知操作“{action}”，可选：{allowed}",
        "en": "Unknown action '{action}', expected one of: {allowed}",
    },
    "case_field_required": {
        "zh": "操作“{action}”需要填写“{field}”",
        "en": "The action '{action}' needs the field '{field}'",
    },
    "case_not_yours": {
        "zh": "案件 {id} 不是您上报的",
        "en": "Case {id} was not reported by you",
    },
    "case_reopen_window": {
        "zh": "结案超过 {days} 天后不能再由居民重新办理，请联系服务热线",
        "en": "Residents may reopen a case only within {days} days of closing; call the hotline",
    },
    "case_not_your_department": {
        "zh": "案件 {id} 未派给您的部门",
        "en": "Case {id} is not assigned to your department",
    },
    "case_lead_only": {
        "zh": "只有牵头部门 {lead} 能执行此操作（案件 {id}）",
        "en": "Only the lead department {lead} may do this (case {id})",
    },
    "case_lead_checks_in": {
        "zh": "牵头部门无需报到（案件 {id}）",
        "en": "The lead department does not check in (case {id})",
    },
    "case_already_checked_in": {
        "zh": "部门 {department} 已在案件 {id} 报到",
        "en": "{department} has already checked in on case {id}",
    },
    "case_whistle_needs_two": {
        "zh": "吹哨至少需要两个部门（departments）",
        "en": "A whistle summons at least two departments (departments)",
    },
    "case_lead_not_summoned": {
        "zh": "牵头部门 {lead} 必须在被召集的部门（departments）之中",
        "en": "The lead {lead} must be one of the summoned departments",
    },
    "case_hours_positive": {
        "zh": "延期小时数（hours）必须大于 0",
        "en": "The extension (hours) must be more than 0",
    },
    "case_extension_pending": {
        "zh": "案件 {id} 已有待审批的延期申请",
        "en": "Case {id} already has an extension request waiting",
    },
    "case_no_extension_pending": {
        "zh": "案件 {id} 没有待审批的延期申请",
        "en": "Case {id} has no extension request waiting",
    },
    "case_satisfaction_range": {
        "zh": "满意度（satisfaction）必须是 1 到 5 的整数",
        "en": "Satisfaction must be a whole number from 1 to 5",
    },
    "case_already_rated": {"zh": "案件 {id} 已评价过", "en": "Case {id} has already been rated"},
    "case_at_top_level": {
        "zh": "案件 {id} 已在市级办理，无法再上报",
        "en": "Case {id} is handled at city level; there is no level above",
    },
    "case_merge_into_itself": {
        "zh": "案件不能合并到自身（into）",
        "en": "A case cannot be merged into itself (into)",
    },
    "case_merge_target_closed": {
        "zh": "目标案件 {id} 已办结，不能合并进去",
        "en": "Case {id} is finished; nothing can be merged into it",
    },
    "case_nothing_to_amend": {
        "zh": "没有需要修改的内容（category、priority 或位置）",
        "en": "Nothing to amend (category, priority or location)",
    },
    "unknown_category": {
        "zh": "未知的事件分类“{code}”（category）",
        "en": "Unknown category '{code}' (category)",
    },
    "unknown_department": {
        "zh": "未知的处置部门“{code}”（{field}）",
        "en": "Unknown department '{code}' ({field})",
    },
    "case_needs_place": {
        "zh": "请提供位置：经纬度（lat、lon）或地址（address）",
        "en": "Give a place: coordinates (lat, lon) or an address",
    },
    "case_address_unknown": {
        "zh": "无法识别地址“{address}”，请在地图上选点（lat、lon）",
        "en": "The address '{address}' is not known; put a pin on the map (lat, lon)",
    },
    "case_description_too_long": {
        "zh": "问题描述（description）最多 {max} 个字，当前 {length} 个字",
        "en": "The description may have at most {max} characters; it has {length}",
    },
    "attachment_not_image": {
        "zh": "附件“{name}”不是图片（仅支持 JPEG、PNG、WebP、GIF）",
        "en": "The attachment '{name}' is not an image (JPEG, PNG, WebP or GIF)",
    },
    "attachment_too_large": {
        "zh": "附件“{name}”大小 {size} MB，超过上限 {max} MB",
        "en": "The attachment '{name}' is {size} MB, over the limit of {max} MB",
    },
    "attachment_bad_data": {
        "zh": "附件“{name}”的内容不是有效的 Base64 数据",
        "en": "The attachment '{name}' is not valid base64 data",
    },
    "attachment_not_found": {"zh": "附件 {id} 不存在", "en": "Attachment {id} does not exist"},
    "channel_not_allowed": {
        "zh": "角色“{role}”不能以渠道“{channel}”上报",
        "en": "The role '{role}' may not report through the channel '{channel}'",
    },
    "case_changed": {
        "zh": "案件 {id} 刚被其他人处理过，请刷新后重试",
        "en": "Case {id} was changed by someone else just now; reload and try again",
    },
    "case_hidden": {
        "zh": "案件 {id} 不在您的管辖范围或部门内",
        "en": "Case {id} is outside your area or department",
    },
    "unknown_status": {
        "zh": "未知状态“{value}”，可选：{allowed}",
        "en": "Unknown status '{value}', expected: {allowed}",
    },
    "csv_rows_rejected": {
        "zh": "{count} 行有误，未写入任何数据；第一处：{first}",
        "en": "{count} rows are wrong, nothing was written; first: {first}",
    },
    # answers to reporters (事事有回应)
    "msg.received": {
        "zh": "【CivicGrid】您反映的{category}问题已收到，案件编号 {id}。我们会尽快受理。",
        "en": "[CivicGrid] We received your report about {category}, case number {id}.",
    },
    "msg.accepted": {
        "zh": "【CivicGrid】案件 {id} 已受理，正在分派处理部门。",
        "en": "[CivicGrid] Case {id} has been accepted and is being assigned.",
    },
    "msg.rejected": {
        "zh": "【CivicGrid】很抱歉，案件 {id} 不予受理，原因：{reason}",
        "en": "[CivicGrid] Sorry, case {id} cannot be taken up: {reason}",
    },
    "msg.dispatched": {
        "zh": "【CivicGrid】案件 {id} 已交由{department}办理。",
        "en": "[CivicGrid] Case {id} has been passed to {department}.",
    },
    "msg.resolved": {
        "zh": "【CivicGrid】案件 {id} 已处置完毕，正在核查：{answer}",
        "en": "[CivicGrid] Case {id} has been dealt with and is being checked: {answer}",
    },
    "msg.rework": {
        "zh": "【CivicGrid】案件 {id} 核查未通过，已要求重新处置。",
        "en": "[CivicGrid] Case {id} failed the check and is being handled again.",
    },
    "msg.suspended": {
        "zh": "【CivicGrid】案件 {id} 暂时挂账：{reason}",
        "en": "[CivicGrid] Case {id} is on hold: {reason}",
    },
    "msg.resumed": {
        "zh": "【CivicGrid】案件 {id} 已恢复办理。",
        "en": "[CivicGrid] Work on case {id} has resumed.",
    },
    "msg.closed": {
        "zh": "【CivicGrid】案件 {id} 已办结：{answer} 欢迎对办理结果进行评价。",
        "en": "[CivicGrid] Case {id} is closed: {answer} Please rate the result.",
    },
    "msg.reopened": {
        "zh": "【CivicGrid】案件 {id} 已重新办理：{reason}",
        "en": "[CivicGrid] Case {id} has been reopened: {reason}",
    },
    "msg.escalated": {
        "zh": "【CivicGrid】案件 {id} 已提交上级部门协调办理。",
        "en": "[CivicGrid] Case {id} has been passed to the level above.",
    },
    "msg.merged": {
        "zh": "【CivicGrid】您反映的问题已有人上报，案件 {id} 并入案件 {into} 一并办理，"
        "后续进展将同步告知您。",
        "en": "[CivicGrid] Someone reported the same problem: case {id} is handled together "
        "with case {into}, and you will hear its progress.",
    },
    "msg.voided": {
        "zh": "【CivicGrid】案件 {id} 已作废：{reason}",
        "en": "[CivicGrid] Case {id} has been voided: {reason}",
    },
    "msg.auto_escalation": {
        "zh": "超过办理时限，系统自动上报上级",
        "en": "Past its time limit; escalated automatically",
    },
    # CSV imports (taxonomy, authority list)
    "row_problem": {"zh": "第 {row} 行“{field}”：{reason}", "en": "row {row}, '{field}': {reason}"},
    "csv_missing_columns": {
        "zh": "CSV 缺少列：{columns}",
        "en": "The CSV lacks the columns: {columns}",
    },
    "csv_required": {"zh": "不能为空", "en": "must not be empty"},
    "csv_duplicate": {
        "zh": "“{value}”重复（首次出现于第 {first} 行）",
        "en": "'{value}' repeats (first in row {first})",
    },
    "csv_not_a_flag": {
        "zh": "“{value}”不是 是/否（yes/no）",
        "en": "'{value}' is not yes/no",
    },
    "csv_unknown_parent": {"zh": "上级分类“{value}”不存在", "en": "no parent category '{value}'"},
    "csv_two_levels": {
        "zh": "分类最多两级，“{value}”本身已是二级分类",
        "en": "categories have two levels; '{value}' is already a level-2 category",
    },
    "csv_bad_level": {
        "zh": "“{value}”不是办理层级（community、street、district、city）",
        "en": "'{value}' is not a handling level (community, street, district, city)",
    },
    "csv_bad_function": {"zh": "未知职能“{value}”", "en": "unknown function '{value}'"},
    "csv_function_or_department": {
        "zh": "需填写职能（function）或部门编码（department）",
        "en": "give a function or a department code",
    },
    "csv_bad_hours": {
        "zh": "“{value}”不是正数小时",
        "en": "'{value}' is not a positive number of hours",
    },
    "csv_unknown_category": {"zh": "分类“{value}”不存在", "en": "no category '{value}'"},
    "csv_unknown_department": {"zh": "部门“{value}”不存在", "en": "no department '{value}'"},
    "csv_unknown_area": {"zh": "区域“{value}”不存在", "en": "no area '{value}'"},
    "csv_rejected": {
        "zh": "导入中止：{count} 行有误，未写入任何数据；错误行已保存到 {path}",
        "en": "Import aborted: {count} rows are wrong, nothing was written; they are in {path}",
    },
    # pages
    "ui.product": {"zh": "CivicGrid 城市基层治理平台", "en": "CivicGrid urban governance"},
    "ui.map_title": {"zh": "网格地图", "en": "Grid map"},
    "ui.login": {"zh": "登录", "en": "Log in"},
    "ui.logout": {"zh": "退出", "en": "Log out"},
    "ui.username": {"zh": "用户名", "en": "Username"},
    "ui.password": {"zh": "密码", "en": "Password"},
    "ui.login_title": {"zh": "登录 CivicGrid", "en": "Log in to CivicGrid"},
    "ui.login_hint": {
        "zh": "演示账号在运行 civicgrid demo 时打印在控制台上。",
        "en": "Demo accounts are printed on the console by civicgrid demo.",
    },
    "ui.back_to_map": {"zh": "返回地图", "en": "Back to the map"},
    "ui.public_view": {
        "zh": "公开视图：登录后可查看管辖范围内的详细信息",
        "en": "Public view: log in to see details of your area",
    },
    "ui.scope": {"zh": "管辖范围：{name}", "en": "Area of responsibility: {name}"},
    "ui.whole_city": {"zh": "全市", "en": "Whole city"},
    "ui.click_grid": {
        "zh": "点击地图上的网格查看编码、名称、网格员和统计。",
        "en": "Tap a grid on the map to see its code, name, worker and counts.",
    },
    "ui.code": {"zh": "编码", "en": "Code"},
    "ui.name": {"zh": "名称", "en": "Name"},
    "ui.level": {"zh": "层级", "en": "Level"},
    "ui.area": {"zh": "面积", "en": "Area"},
    "ui.grid_workers": {"zh": "网格员", "en": "Grid workers"},
    "ui.no_worker": {"zh": "尚未配备网格员", "en": "No grid worker assigned"},
    "ui.counts": {"zh": "统计", "en": "Counts"},
    "ui.departments": {"zh": "处置单位", "en": "Handling units"},
    "ui.children": {"zh": "下级区域", "en": "Areas below"},
    "ui.masked_note": {
        "zh": "个人信息已脱敏；登录并在管辖范围内可查看。",
        "en": "Personal data is masked; log in within your area to see it.",
    },
    "ui.count.districts": {"zh": "区", "en": "Districts"},
    "ui.count.streets": {"zh": "街道", "en": "Streets"},
    "ui.count.communitys": {"zh": "社区", "en": "Communities"},
    "ui.count.grids": {"zh": "网格", "en": "Grids"},
    "ui.count.departments": {"zh": "处置单位", "en": "Handling units"},
    "ui.count.grid_workers": {"zh": "网格员", "en": "Grid workers"},
    "ui.count.open_cases": {"zh": "在办案件", "en": "Open cases"},
    "ui.count.overdue_cases": {"zh": "超期案件", "en": "Overdue cases"},
    "ui.search": {"zh": "搜索区域名称或编码", "en": "Search areas by name or code"},
    "ui.search_none": {"zh": "没有匹配的区域", "en": "No matching area"},
    "ui.loading": {"zh": "加载中…", "en": "Loading…"},
    "ui.map_failed": {"zh": "地图数据加载失败：{reason}", "en": "Could not load the map: {reason}"},
    "ui.locate_me": {"zh": "定位到我的位置", "en": "Find my grid"},
    "ui.language": {"zh": "English", "en": "中文"},
    "ui.signed_in_as": {"zh": "当前用户", "en": "Signed in as"},
    "ui.km2": {"zh": "平方公里", "en": "km²"},
    "ui.no_areas": {
        "zh": "数据库中还没有区域。运行 civicgrid demo 生成演示城市，"
        "或用 civicgrid areas import 导入边界。",
        "en": "There are no areas yet. Run civicgrid demo for a demo city, or civicgrid areas "
        "import to load boundaries.",
    },
}


def translate(key: str, locale: Locale = "zh", params: Mapping[str, Any] | None = None) -> str:
    """The message for KEY in LOCALE, with PARAMS filled in; the key itself when unknown."""
    forms = MESSAGES.get(key)
    if forms is None:
        return key
    text = forms[locale]
    return text.format(**params) if params else text


def pick_locale(*candidates: str | None, default: Locale = "zh") -> Locale:
    """The first supported locale among CANDIDATES ('en', 'en-US,en;q=0.9', 'zh-CN', …)."""
    for candidate in candidates:
        if not candidate:
            continue
        for part in candidate.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh"
            if tag.startswith("en"):
                return "en"
    return default
