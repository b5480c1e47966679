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
    "too_many_attempts": {
        "zh": "尝试次数过多，请 {seconds} 秒后再试",
        "en": "Too many attempts; try again in {seconds} seconds",
    },
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
    # errors: the residents' portal
    "attachment_broken": {
        "zh": "照片“{name}”已损坏或不完整，无法打开",
        "en": "The photo '{name}' is damaged or incomplete and cannot be opened",
    },
    "pass_expired": {
        "zh": "查询已过期，请重新输入案件编号和电话号码",
        "en": "This lookup has expired; enter the case number and phone number again",
    },
    "pass_invalid": {
        "zh": "查询无效，请重新输入案件编号和电话号码",
        "en": "This lookup is not valid; enter the case number and phone number again",
    },
    "case_guest_needs_phone": {
        "zh": "未登录时请留下手机号，以便接收答复和查询进度",
        "en": "Without an account, leave a mobile number to get answers and follow the case",
    },
    "case_description_required": {
        "zh": "请描述遇到的问题",
        "en": "Please describe the problem",
    },
    "case_not_open_for_support": {
        "zh": "案件 {id} 已不在办理中（{status}），无法附议；如问题仍在，请重新反映",
        "en": "Case {id} is no longer open ({status}); if the problem is still there, "
        "report it again",
    },
    "case_already_yours": {
        "zh": "您已经反映或附议过案件 {id}，处理进展会通知您",
        "en": "You have already reported or supported case {id}; you will hear how it goes",
    },
    "case_reporter_only": {
        "zh": "只有案件 {id} 的反映人可以核实、评价或申请重新办理",
        "en": "Only the person who reported case {id} may confirm, rate or reopen it",
    },
    "case_guest_only": {
        "zh": "您已登录，请直接在“我要反映”提交",
        "en": "You are logged in; report from the Report page",
    },
    "signup_bad_username": {
        "zh": "用户名“{value}”无效：2–40 位字母、数字或 _ . @ -",
        "en": "The username '{value}' is not valid: 2–40 letters, digits or _ . @ -",
    },
    "signup_bad_phone": {
        "zh": "手机号“{value}”无效：请填写 6–20 位数字",
        "en": "The mobile number '{value}' is not valid: 6–20 digits",
    },
    "signup_name_required": {
        "zh": "请填写称呼（2–40 个字）",
        "en": "Please give a name (2–40 characters)",
    },
    "signup_passwords_differ": {
        "zh": "两次输入的密码不一致",
        "en": "The two passwords differ",
    },
    "signup_password_is_name": {
        "zh": "密码不能与用户名或手机号相同",
        "en": "The password must not be your username or mobile number",
    },
    "unknown_status": {
        "zh": "未知状态“{value}”，可选：{allowed}",
        "en": "Unknown status '{value}', expected: {allowed}",
    },
    "csv_rows_rejected": {
        "zh": "{count} 行有误，未写入任何数据；第一处：{first}",
        "en": "{count} rows are wrong, nothing was written; first: {first}",
    },
    # Insight: message tables, the classifier and its commands
    "insight_missing_columns": {
        "zh": "文件缺少列：{columns}（现有列：{available}）",
        "en": "The file lacks the columns: {columns} (it has: {available})",
    },
    "insight_empty_file": {
        "zh": "文件没有数据行：{path}",
        "en": "The file has no data rows: {path}",
    },
    "insight_bad_excel": {
        "zh": "无法读取 Excel 文件：{path}",
        "en": "Cannot read the Excel file: {path}",
    },
    "insight_empty_text": {
        "zh": "第 {row} 行没有文本（列“{column}”为空）",
        "en": "row {row} has no text (column '{column}' is empty)",
    },
    "insight_empty_label": {
        "zh": "第 {row} 行没有分类（列“{column}”为空）",
        "en": "row {row} has no label (column '{column}' is empty)",
    },
    "insight_too_few_labels": {
        "zh": "至少需要两个不同的分类才能训练（现有：{labels}）",
        "en": "Training needs at least two different labels (found: {labels})",
    },
    "insight_model_missing": {
        "zh": "模型文件不存在或不可用：{path}（{reason}）",
        "en": "No usable model at {path} ({reason})",
    },
    "insight_trained": {
        "zh": "已训练：{count} 条留言，{labels} 个分类，模型保存到 {path}",
        "en": "Trained on {count} messages, {labels} labels; model saved to {path}",
    },
    "insight_predicted": {
        "zh": "已预测 {count} 条留言，结果写入 {path}",
        "en": "Predicted {count} messages; written to {path}",
    },
    "insight_scores": {
        "zh": "{folds} 折交叉验证：宏平均 F1 {macro_f1}，准确率 {accuracy}",
        "en": "{folds}-fold cross-validation: macro-F1 {macro_f1}, accuracy {accuracy}",
    },
    "insight_too_few_cases": {
        "zh": "已结案件太少，无法训练：{count} 件（至少需要 {needed} 件、两个分类）",
        "en": "Too few closed cases to train on: {count} (needs {needed} in two categories)",
    },
    "insight_retrained": {
        "zh": "已用 {count} 件已结案件（其中 {corrected} 件经坐席员改过分类）"
        "训练分类建议模型：{path}",
        "en": "Category suggestions retrained on {count} closed cases "
        "({corrected} recategorised by dispatchers): {path}",
    },
    "insight_bad_time": {
        "zh": "第 {row} 行“{column}”：“{value}”不是时间（如 2019/12/1 9:30:00）",
        "en": "row {row}, '{column}': '{value}' is not a time (such as 2019/12/1 9:30:00)",
    },
    "insight_bad_number": {
        "zh": "第 {row} 行“{column}”：“{value}”不是数字",
        "en": "row {row}, '{column}': '{value}' is not a number",
    },
    "insight_hot_issue": {
        "zh": "{rank}. {title}｜地点：{place}｜{span}｜{count} 条留言，{likes} 个赞｜热度 {heat}",
        "en": "{rank}. {title} | place: {place} | {span} | {count} messages, {likes} likes "
        "| heat {heat}",
    },
    "insight_sentiment_done": {
        "zh": "情感倾向：负面 {negative} 条，中性 {neutral} 条，正面 {positive} 条",
        "en": "Tone: {negative} negative, {neutral} neutral, {positive} positive",
    },
    "insight_urgency_done": {
        "zh": "已评估 {count} 条留言的紧急程度，其中 {urgent} 条紧急；结果写入 {path}",
        "en": "Scored the urgency of {count} messages, {urgent} urgent; written to {path}",
    },
    "insight_hot_summary": {
        "zh": "{count} 条留言中找到 {issues} 个热点问题（至少两条留言）",
        "en": "{issues} hot issues (two messages or more) among {count} messages",
    },
    # Insight: reply quality (答复质量)
    "insight_replies_done": {
        "zh": "已为 {count} 条答复评分：平均 {mean} 分，中位数 {median} 分（满分 100）；"
        "结果写入 {path}",
        "en": "Scored {count} replies: mean {mean}, median {median} (out of 100); "
        "written to {path}",
    },
    "insight_replies_best": {"zh": "最好的答复：", "en": "Best replies:"},
    "insight_replies_worst": {"zh": "最差的答复：", "en": "Worst replies:"},
    "insight_replies_example": {
        "zh": "  第 {row} 行｜{total} 分｜{title}｜{reply}",
        "en": "  row {row} | {total} | {title} | {reply}",
    },
    "reply.aspect.total": {"zh": "答复质量", "en": "Reply quality"},
    "reply.aspect.relevance": {"zh": "相关性", "en": "Relevance"},
    "reply.aspect.completeness": {"zh": "完整性", "en": "Completeness"},
    "reply.aspect.concreteness": {"zh": "具体性", "en": "Concreteness"},
    "reply.aspect.timeliness": {"zh": "及时性", "en": "Timeliness"},
    "reply.reason.place": {"zh": "提到地点：{detail}", "en": "names the place: {detail}"},
    "reply.reason.shared": {"zh": "回应了：{detail}", "en": "takes up: {detail}"},
    "reply.reason.missed": {"zh": "未提及：{detail}", "en": "does not mention: {detail}"},
    "reply.reason.points": {"zh": "答到 {detail} 个诉求", "en": "{detail} points answered"},
    "reply.reason.unanswered": {"zh": "未回应：{detail}", "en": "not answered: {detail}"},
    "reply.reason.short": {
        "zh": "实质内容仅 {detail} 字",
        "en": "only {detail} characters of its own",
    },
    "reply.reason.boilerplate": {"zh": "套话：{detail}", "en": "boilerplate: {detail}"},
    "reply.reason.boilerplate_only": {
        "zh": "只有套话：{detail}",
        "en": "nothing but boilerplate: {detail}",
    },
    "reply.reason.no_reply": {"zh": "没有答复", "en": "no reply"},
    "reply.reason.date": {"zh": "日期：{detail}", "en": "dates: {detail}"},
    "reply.reason.figure": {"zh": "数字：{detail}", "en": "figures: {detail}"},
    "reply.reason.phone": {"zh": "电话：{detail}", "en": "phone: {detail}"},
    "reply.reason.unit": {"zh": "责任单位：{detail}", "en": "responsible units: {detail}"},
    "reply.reason.action": {"zh": "措施：{detail}", "en": "actions: {detail}"},
    "reply.reason.guidance": {"zh": "指引：{detail}", "en": "what to do: {detail}"},
    "reply.reason.law": {"zh": "依据：{detail}", "en": "legal basis: {detail}"},
    "reply.reason.working_days": {
        "zh": "{detail} 个工作日后答复",
        "en": "answered after {detail} working days",
    },
    "reply.reason.no_time": {"zh": "缺少提问或答复时间", "en": "a time is missing"},
    # Insight: the retraining schedule and the insight page
    "insight_retrain_running": {
        "zh": "分类建议模型正在重新训练，请稍后再试",
        "en": "The category suggestions are being retrained; try again later",
    },
    "insight_no_model_path": {
        "zh": "未设置模型路径（CIVICGRID_SUGGESTION_MODEL_PATH），无法训练",
        "en": "No model path is set (CIVICGRID_SUGGESTION_MODEL_PATH); nothing to train",
    },
    "ui.nav.insight": {"zh": "民情分析", "en": "Insight"},
    "ui.insight.title": {"zh": "民情数据分析", "en": "Public-sentiment insight"},
    "ui.insight.model": {"zh": "分类建议模型", "en": "Category-suggestion model"},
    "ui.insight.no_model": {
        "zh": "还没有训练好的模型：受理时按分类关键词建议分类。",
        "en": "No trained model yet: intake suggests categories by their keywords.",
    },
    "ui.insight.trained": {
        "zh": "{when} 用 {count} 件已结案件训练，{labels} 个分类",
        "en": "Trained {when} on {count} closed cases in {labels} categories",
    },
    "ui.insight.category": {"zh": "分类", "en": "Category"},
    "ui.insight.precision": {"zh": "精确率", "en": "Precision"},
    "ui.insight.recall": {"zh": "召回率", "en": "Recall"},
    "ui.insight.f1": {"zh": "F1", "en": "F1"},
    "ui.insight.support": {"zh": "案件数", "en": "Cases"},
    "ui.insight.schedule": {
        "zh": "每 {hours} 小时自动重新训练",
        "en": "Retrained every {hours} hours",
    },
    "ui.insight.schedule_off": {
        "zh": "未开启定时重新训练（CIVICGRID_RETRAIN_EVERY_HOURS=0）",
        "en": "Scheduled retraining is off (CIVICGRID_RETRAIN_EVERY_HOURS=0)",
    },
    "ui.insight.next_run": {"zh": "下次：{when}", "en": "Next: {when}"},
    "ui.insight.next_soon": {
        "zh": "下次：服务器下一次检查时",
        "en": "Next: at the server's next check",
    },
    "ui.insight.last_run": {"zh": "上次运行：{when}", "en": "Last run: {when}"},
    "ui.insight.never_run": {"zh": "尚未运行过", "en": "Never run yet"},
    "ui.insight.running": {
        "zh": "正在重新训练（{when} 开始）…",
        "en": "Retraining (started {when})…",
    },
    "ui.insight.retrain_now": {"zh": "立即重新训练", "en": "Retrain now"},
    "ui.insight.retrain_hint": {
        "zh": "在后台用全部已结案件重新训练，约需数十秒；完成后本页自动更新。",
        "en": "Retrains from every closed case in the background, in some tens of "
        "seconds; this page updates when it is done.",
    },
    "ui.insight.retrain_started": {
        "zh": "已开始重新训练。",
        "en": "Retraining has started.",
    },
    "ui.insight.hot": {"zh": "热点问题", "en": "Hot issues"},
    "ui.insight.hot_hint": {
        "zh": "最近 {days} 天辖区内的案件（在办和已结）中，同一地点同一问题的归为一组；"
        "每分钟刷新。",
        "en": "Cases of your area from the last {days} days (open and closed) about the same "
        "problem in the same place; refreshed every minute.",
    },
    "ui.insight.hot_none": {
        "zh": "最近 {days} 天没有两件以上同一问题的案件。",
        "en": "No problem was reported twice or more in the last {days} days.",
    },
    "ui.insight.hot_meta": {
        "zh": "{count} 件｜{span}｜{supporters} 人附议｜热度 {heat}",
        "en": "{count} cases | {span} | {supporters} supporters | heat {heat}",
    },
    "ui.insight.place": {"zh": "地点：{place}", "en": "Place: {place}"},
    "ui.insight.updated": {"zh": "更新于 {time}", "en": "Updated {time}"},
    "ui.insight.days": {"zh": "时间范围", "en": "Period"},
    "ui.insight.last_days": {"zh": "最近 {days} 天", "en": "Last {days} days"},
    "ui.insight.show": {"zh": "查看", "en": "Show"},
    "ui.insight.replies": {"zh": "答复质量", "en": "Reply quality"},
    "ui.insight.replies_hint": {
        "zh": "最近 {days} 天结案的案件：处置答复与诉求的相关性、完整性、具体性和及时性，"
        "按处置单位汇总（满分 100，最差的排在前面）。",
        "en": "Cases closed in the last {days} days: how relevant, complete, concrete and "
        "timely their answers were, per handling unit (out of 100, weakest first).",
    },
    "ui.insight.replies_none": {
        "zh": "这段时间没有已结案件。",
        "en": "No case was closed in this period.",
    },
    "ui.insight.unit": {"zh": "处置单位", "en": "Handling unit"},
    "ui.insight.on_spot": {"zh": "网格员就地解决", "en": "Resolved on the spot"},
    "ui.insight.count": {"zh": "案件数", "en": "Cases"},
    "ui.insight.mean": {"zh": "平均分", "en": "Mean"},
    "ui.insight.poor": {"zh": "低于 60 分", "en": "Below 60"},
    "ui.insight.worst": {"zh": "最差的答复", "en": "Weakest answers"},
    "ui.insight.all_units": {"zh": "查看全部 {count} 个单位", "en": "All {count} units"},
    # Open311 GeoReport v2
    # registry: identifiers and addresses in department files
    "registry_id_missing": {"zh": "缺少身份证号码", "en": "The identity number is missing"},
    "registry_id_length": {
        "zh": "身份证号码“{value}”应为18位（旧号码15位），实际{length}位",
        "en": "Identity number '{value}' should have 18 characters (15 for old ones), not {length}",
    },
    "registry_id_characters": {
        "zh": "身份证号码“{value}”只能是数字，最后一位可以是X",
        "en": "Identity number '{value}' may contain only digits, and X as its last character",
    },
    "registry_id_region": {
        "zh": "身份证号码“{value}”的地区码{region}不存在",
        "en": "Identity number '{value}' has region code {region}, which does not exist",
    },
    "registry_id_birth_date": {
        "zh": "身份证号码“{value}”中的出生日期{date}不可能",
        "en": "Identity number '{value}' has an impossible birth date {date}",
    },
    "registry_id_check_digit": {
        "zh": "身份证号码“{value}”校验位错误：应为{expected}，实为{given}（可能有数字录错）",
        "en": "Identity number '{value}' fails its check: the last character should be "
        "{expected}, not {given} (a digit may be mistyped)",
    },
    "registry_credit_missing": {
        "zh": "缺少统一社会信用代码",
        "en": "The unified social credit code is missing",
    },
    "registry_credit_length": {
        "zh": "统一社会信用代码“{value}”应为18位，实际{length}位",
        "en": "Credit code '{value}' should have 18 characters, not {length}",
    },
    "registry_credit_characters": {
        "zh": "统一社会信用代码“{value}”含有不允许的字符：{chars}（不使用I、O、S、V、Z）",
        "en": "Credit code '{value}' contains characters that codes never use: {chars} "
        "(no I, O, S, V or Z)",
    },
    "registry_credit_authority": {
        "zh": "统一社会信用代码“{value}”的登记管理部门代码{authority}不存在",
        "en": "Credit code '{value}' starts with {authority}, which is no registration authority",
    },
    "registry_credit_region": {
        "zh": "统一社会信用代码“{value}”的地区码{region}不存在",
        "en": "Credit code '{value}' has region code {region}, which does not exist",
    },
    "registry_credit_check_digit": {
        "zh": "统一社会信用代码“{value}”校验位错误：应为{expected}，实为{given}",
        "en": "Credit code '{value}' fails its check: the last character should be "
        "{expected}, not {given}",
    },
    "registry_phone_missing": {"zh": "缺少电话号码", "en": "The phone number is missing"},
    "registry_phone_format": {
        "zh": "电话号码“{value}”既不是11位手机号，也不是带区号的固定电话",
        "en": "Phone number '{value}' is neither an 11-digit mobile nor a fixed line with "
        "its area code",
    },
    # registry: imports
    "registry_unknown_kind": {
        "zh": "未知的登记类型“{kind}”，可选：{allowed}",
        "en": "Unknown record kind '{kind}', expected one of: {allowed}",
    },
    "registry_file_empty": {"zh": "文件为空：{path}", "en": "The file is empty: {path}"},
    "registry_file_no_rows": {
        "zh": "文件只有表头，没有数据行：{path}",
        "en": "The file has a header but no rows: {path}",
    },
    "registry_xlsx_unreadable": {
        "zh": "无法读取 Excel 文件 {path}：{reason}",
        "en": "Cannot read the Excel file {path}: {reason}",
    },
    "registry_missing_column": {
        "zh": "{path} 缺少必需的列“{column}”（字段 {field}）；文件中的列：{found}",
        "en": "{path} lacks the required column '{column}' (field {field}); the columns "
        "found: {found}",
    },
    "registry_mapping_unreadable": {
        "zh": "映射文件 {path} 无法读取：{reason}",
        "en": "The mapping file {path} cannot be read: {reason}",
    },
    "registry_mapping_unknown": {
        "zh": "映射文件 {path} 中有未知的项“{field}”（可用：source、columns）",
        "en": "The mapping file {path} has an unknown entry '{field}' (allowed: source, columns)",
    },
    "registry_mapping_unknown_field": {
        "zh": "映射文件 {path} 的 [columns] 中有未知字段“{field}”，可选：{allowed}",
        "en": "The mapping file {path} maps an unknown field '{field}'; allowed: {allowed}",
    },
    "registry_required": {"zh": "不能为空", "en": "must not be empty"},
    "registry_too_long": {
        "zh": "最多 {limit} 个字符，实际 {length} 个",
        "en": "at most {limit} characters, not {length}",
    },
    "registry_bad_date": {
        "zh": "日期“{value}”不存在或格式不对（例：2024-03-01）",
        "en": "The date '{value}' is impossible or malformed (e.g. 2024-03-01)",
    },
    "registry_date_future": {
        "zh": "日期 {value} 在今天之后",
        "en": "The date {value} is after today",
    },
    "registry_expiry_before_registration": {
        "zh": "有效期至 {value} 早于登记日期 {registered}",
        "en": "Valid until {value} is before the registration date {registered}",
    },
    "registry_birth_mismatch": {
        "zh": "出生日期 {value} 与身份证号码中的 {expected} 不符",
        "en": "The birth date {value} disagrees with {expected} in the identity number",
    },
    "registry_sex_mismatch": {
        "zh": "性别“{value}”与身份证号码不符",
        "en": "The sex '{value}' disagrees with the identity number",
    },
    "registry_bad_number": {
        "zh": "“{value}”不是 0 至 {most} 之间的数",
        "en": "'{value}' is not a number between 0 and {most}",
    },
    "registry_unknown_value": {
        "zh": "无法识别“{value}”，可用：{allowed}",
        "en": "'{value}' is not understood; use one of: {allowed}",
    },
    "registry_unknown_grid": {
        "zh": "网格编码“{value}”不存在（记录已保存，待核实）",
        "en": "No grid has the code '{value}' (record kept for review)",
    },
    "registry_address_unmatched": {
        "zh": "地址“{value}”找不到对应的标准地址（记录已按原文保存，待核实）",
        "en": "No standard address matches '{value}' (record kept with this text, for review)",
    },
    "registry_address_ambiguous": {
        "zh": "地址“{value}”对应多个标准地址（记录已按原文保存，待核实）",
        "en": "'{value}' fits several standard addresses (record kept with this text, for review)",
    },
    "registry_address_unparsed": {
        "zh": "无法从“{value}”中识别道路或小区",
        "en": "No road or estate can be read from '{value}'",
    },
    "registry_outside_grids": {
        "zh": "坐标（{lat}, {lon}）不在任何网格内（记录已保存，待核实）",
        "en": "The point ({lat}, {lon}) lies in no grid (record kept for review)",
    },
    "registry_duplicate_key": {
        "zh": "与第 {first} 行重复",
        "en": "duplicates row {first}",
    },
    "registry_cli_reading": {
        "zh": "读取 {path}（编码：{encoding}）",
        "en": "Reading {path} (encoding: {encoding})",
    },
    "registry_cli_progress": {"zh": "导入", "en": "importing"},
    "registry_cli_rejected": {
        "zh": "{rejected} 行未导入，{review} 行已导入待核实；明细见 {path}",
        "en": "{rejected} rows rejected, {review} kept for review; listed in {path}",
    },
    "registry_cli_done": {
        "zh": "批次 {batch}（来源 {source}）：共 {total} 行，新增 {created}，更新 {updated}，"
        "未变 {unchanged}，拒绝 {rejected}，待核实 {review}",
        "en": "Batch {batch} (source {source}): {total} rows, {created} new, {updated} updated, "
        "{unchanged} unchanged, {rejected} rejected, {review} for review",
    },
    # registry: corrections
    "registry_reason_required": {
        "zh": "请填写修改原因",
        "en": "Say why the record is changed",
    },
    "registry_field_not_editable": {
        "zh": "字段“{field}”不能在此修改，可修改：{allowed}",
        "en": "The field '{field}' cannot be changed here; these can: {allowed}",
    },
    "registry_not_your_grid": {
        "zh": "只有网格 {code} 的网格员可以修改这条记录",
        "en": "Only the grid worker of grid {code} may change this record",
    },
    # registry: linked entities
    "registry_link_kind_unknown": {
        "zh": "{kind} 还不能关联，可关联：{allowed}",
        "en": "{kind} cannot be linked yet; these can: {allowed}",
    },
    "registry_link_bad_decision": {
        "zh": "无效的判断“{value}”，应为：{allowed}",
        "en": "'{value}' is no decision; use one of: {allowed}",
    },
    "registry_link_reason_required": {
        "zh": "请填写判断理由",
        "en": "Say why you decide so",
    },
    "registry_link_not_in_entity": {
        "zh": "记录 {record} 不属于实体 {entity}（或不在您的管辖范围内）",
        "en": "Record {record} is not one of entity {entity} (or not in your area)",
    },
    "registry_link_no_record": {
        "zh": "没有记录 {record}（或不在您的管辖范围内）",
        "en": "There is no record {record} (or it is not in your area)",
    },
    "registry_link_alone": {
        "zh": "记录 {record} 是该实体唯一的记录，无可确认或拆分的另一条",
        "en": "Record {record} is the entity's only record: there is no other to confirm or split",
    },
    "registry_link_same_record": {
        "zh": "不能就记录 {record} 与它自己作判断",
        "en": "Record {record} cannot be decided about with itself",
    },
    # registry: pages
    "ui.nav.registry": {"zh": "一标三实", "en": "Registry"},
    "ui.registry.title": {"zh": "基础信息（一标三实）", "en": "Base registry"},
    "ui.registry.intro": {
        "zh": "标准地址、实有房屋、实有人口、实有单位，限于您的管辖范围。",
        "en": "Standard addresses, houses, people and organisations within your area.",
    },
    "ui.registry.kind.addresses": {"zh": "标准地址", "en": "Addresses"},
    "ui.registry.kind.houses": {"zh": "实有房屋", "en": "Houses"},
    "ui.registry.kind.people": {"zh": "实有人口", "en": "People"},
    "ui.registry.kind.organisations": {"zh": "实有单位", "en": "Organisations"},
    "ui.registry.search": {"zh": "搜索", "en": "Search"},
    "ui.registry.search_hint": {
        "zh": "姓名、电话或完整身份证号",
        "en": "Name, phone or a whole identity number",
    },
    "ui.registry.found": {"zh": "共 {total} 条", "en": "{total} found"},
    "ui.registry.none": {"zh": "没有符合条件的记录。", "en": "Nothing matches."},
    "ui.registry.more": {"zh": "下一页", "en": "Next page"},
    "ui.registry.previous": {"zh": "上一页", "en": "Previous page"},
    "ui.registry.summary": {"zh": "各网格概况", "en": "Grids at a glance"},
    "ui.registry.summary_hint": {
        "zh": "点击网格查看人口、房屋、流动人口和关爱对象数量。",
        "en": "Tap a grid for its people, houses, floating population and care groups.",
    },
    "ui.registry.grid": {"zh": "网格", "en": "Grid"},
    "ui.registry.people": {"zh": "人口", "en": "People"},
    "ui.registry.floating": {"zh": "流动人口", "en": "Floating"},
    "ui.registry.care": {"zh": "关爱对象", "en": "Care groups"},
    "ui.registry.houses": {"zh": "房屋", "en": "Houses"},
    "ui.registry.rentals": {"zh": "出租房屋", "en": "Rentals"},
    "ui.registry.organisations": {"zh": "单位", "en": "Organisations"},
    "ui.registry.source": {"zh": "来源", "en": "Source"},
    "ui.registry.batch": {"zh": "导入批次", "en": "Import batch"},
    "ui.registry.history": {"zh": "变更记录", "en": "Change history"},
    "ui.registry.no_history": {"zh": "尚无变更。", "en": "No changes yet."},
    "ui.registry.change_line": {
        "zh": "{at} {actor} 将“{field}”由“{old}”改为“{new}”，原因：{reason}",
        "en": "{at} {actor} changed '{field}' from '{old}' to '{new}': {reason}",
    },
    "ui.registry.edit": {"zh": "修改记录", "en": "Correct this record"},
    "ui.registry.reason": {"zh": "修改原因（必填）", "en": "Why (required)"},
    "ui.registry.save": {"zh": "保存", "en": "Save"},
    "ui.registry.saved": {"zh": "已保存。", "en": "Saved."},
    "ui.registry.back": {"zh": "返回列表", "en": "Back to the list"},
    "ui.registry.hidden": {"zh": "（无权查看）", "en": "(not shown to your role)"},
    "ui.registry.batches": {"zh": "导入批次", "en": "Import batches"},
    "ui.registry.rejects": {"zh": "问题行", "en": "Rows with problems"},
    "ui.registry.row": {"zh": "行号", "en": "Row"},
    "ui.registry.reason_col": {"zh": "原因", "en": "Reason"},
    "ui.registry.kept": {"zh": "已保存待核实", "en": "Kept, for review"},
    "ui.registry.rejected": {"zh": "未导入", "en": "Rejected"},
    "ui.registry.counts": {
        "zh": "共 {total} 行：新增 {created}，更新 {updated}，未变 {unchanged}，拒绝 {rejected}，"
        "待核实 {review}",
        "en": "{total} rows: {created} new, {updated} updated, {unchanged} unchanged, "
        "{rejected} rejected, {review} for review",
    },
    "ui.registry.field.name": {"zh": "姓名/名称", "en": "Name"},
    "ui.registry.field.id_masked": {"zh": "身份证号（脱敏）", "en": "Identity number (masked)"},
    "ui.registry.field.sex": {"zh": "性别", "en": "Sex"},
    "ui.registry.field.birth_date": {"zh": "出生日期", "en": "Birth date"},
    "ui.registry.field.phone": {"zh": "联系电话", "en": "Phone"},
    "ui.registry.field.residence": {"zh": "人员类型", "en": "Residence"},
    "ui.registry.field.registered_on": {"zh": "登记日期", "en": "Registered on"},
    "ui.registry.field.expires_on": {"zh": "有效期至", "en": "Valid until"},
    "ui.registry.field.household_address": {"zh": "户籍地址", "en": "Household registration"},
    "ui.registry.field.address_text": {"zh": "地址", "en": "Address"},
    "ui.registry.field.address_match": {"zh": "地址匹配", "en": "Address match"},
    "ui.registry.field.grid_code": {"zh": "网格", "en": "Grid"},
    "ui.registry.field.care_tags": {"zh": "关怀类型", "en": "Care tags"},
    "ui.registry.field.kind": {"zh": "类型", "en": "Kind"},
    "ui.registry.field.area_m2": {"zh": "建筑面积（㎡）", "en": "Floor area (m²)"},
    "ui.registry.field.occupancy_limit": {"zh": "核定居住人数", "en": "Occupancy limit"},
    "ui.registry.field.owner_name": {"zh": "产权人", "en": "Owner"},
    "ui.registry.field.owner_phone": {"zh": "产权人电话", "en": "Owner's phone"},
    "ui.registry.field.manager_name": {"zh": "管理人", "en": "Manager"},
    "ui.registry.field.credit_code": {"zh": "统一社会信用代码", "en": "Credit code"},
    "ui.registry.field.contact_name": {"zh": "联系人", "en": "Contact"},
    "ui.registry.field.contact_phone": {"zh": "联系电话", "en": "Contact phone"},
    "ui.registry.field.text": {"zh": "标准地址", "en": "Standard address"},
    "ui.registry.field.lat": {"zh": "纬度", "en": "Latitude"},
    "ui.registry.field.lon": {"zh": "经度", "en": "Longitude"},
    "ui.registry.field.entity_id": {"zh": "关联实体", "en": "Linked entity"},
    "ui.registry.entity.title": {"zh": "关联实体 #{id}", "en": "Linked entity #{id}"},
    "ui.registry.entity.intro": {
        "zh": "各部门关于同一对象的记录并排显示；不一致的字段已标出，并给出平台采信的值及其来源。",
        "en": "The departments' records of one entity side by side; fields they disagree on "
        "are marked, with the value the registry believes and where it comes from.",
    },
    "ui.registry.entity.open": {"zh": "查看关联实体 #{id}", "en": "Open linked entity #{id}"},
    "ui.registry.entity.field": {"zh": "字段", "en": "Field"},
    "ui.registry.entity.record": {"zh": "记录", "en": "Record"},
    "ui.registry.entity.believed": {"zh": "采信值", "en": "Believed value"},
    "ui.registry.entity.from": {"zh": "来自 {source} #{record}", "en": "from {source} #{record}"},
    "ui.registry.entity.disagree": {"zh": "不一致", "en": "Disagree"},
    "ui.registry.entity.disagree_fields": {
        "zh": "不一致的字段：{fields}",
        "en": "Fields the records disagree on: {fields}",
    },
    "ui.registry.entity.agree": {"zh": "各记录一致。", "en": "The records agree."},
    "ui.registry.entity.hidden": {
        "zh": "另有 {n} 条记录在您的管辖范围外，未显示。",
        "en": "{n} more records lie outside your area and are not shown.",
    },
    "ui.registry.entity.linked_at": {
        "zh": "第 {run} 次关联，{at}",
        "en": "Linkage run {run}, {at}",
    },
    "ui.registry.entity.decide": {"zh": "核实关联", "en": "Review the link"},
    "ui.registry.entity.decide_hint": {
        "zh": "确认：该记录确属此对象；拆分：该记录不是此对象，立即移出。"
        "判断会保留，下次关联时仍然生效。",
        "en": "Confirm: this record is this entity. Split: it is not; it leaves the entity now. "
        "Decisions are kept and applied again by every later linkage run.",
    },
    "ui.registry.entity.reason": {"zh": "判断理由（必填）", "en": "Why (required)"},
    "ui.registry.entity.confirm": {"zh": "确认属于此实体", "en": "Confirm"},
    "ui.registry.entity.split": {"zh": "拆分出去", "en": "Split off"},
    "ui.registry.entity.decided": {"zh": "已记录您的判断。", "en": "Your decision is recorded."},
    "ui.registry.entity.decisions": {"zh": "核实记录", "en": "Reviewers' decisions"},
    "ui.registry.entity.no_decisions": {"zh": "尚无人工核实。", "en": "No decisions yet."},
    "ui.registry.entity.decision_line": {
        "zh": "{at} {actor}：{decision} {a} 与 {b}（{reason}）",
        "en": "{at} {actor}: {decision} {a} and {b} ({reason})",
    },
    "ui.registry.entity.confirm_word": {"zh": "确认", "en": "confirmed"},
    "ui.registry.entity.split_word": {"zh": "拆分", "en": "split"},
    "ui.registry.entity.reason_source priority": {"zh": "按来源优先", "en": "source priority"},
    "ui.registry.entity.reason_all agree": {"zh": "各记录一致", "en": "all agree"},
    "ui.registry.entity.reason_most frequent": {"zh": "多数记录", "en": "most frequent"},
    "ui.registry.entity.reason_most recent": {"zh": "最新记录", "en": "most recent"},
    "ui.registry.entity.reason_no value": {"zh": "均无此值", "en": "no value"},
    "ui.registry.field.batch_id": {"zh": "导入批次", "en": "Import batch"},
    "ui.registry.value.registered": {"zh": "户籍人口", "en": "Registered resident"},
    "ui.registry.value.floating": {"zh": "流动人口", "en": "Floating population"},
    "ui.registry.value.self_occupied": {"zh": "自住", "en": "Self-occupied"},
    "ui.registry.value.rental": {"zh": "出租", "en": "Rental"},
    "ui.registry.value.group_rental": {"zh": "群租", "en": "Group rental"},
    "ui.registry.value.commercial": {"zh": "商用", "en": "Commercial"},
    "ui.registry.value.elderly_alone": {"zh": "独居老人", "en": "Elderly living alone"},
    "ui.registry.value.empty_nest": {"zh": "空巢老人", "en": "Empty-nest elderly"},
    "ui.registry.value.disabled": {"zh": "残疾人", "en": "Disabled"},
    "ui.registry.value.left_behind_child": {"zh": "留守儿童", "en": "Left-behind child"},
    "ui.registry.value.low_income": {"zh": "低保户", "en": "Low-income household"},
    "ui.registry.value.seriously_ill": {"zh": "重病", "en": "Seriously ill"},
    "ui.registry.value.enterprise": {"zh": "企业", "en": "Enterprise"},
    "ui.registry.value.individual_business": {"zh": "个体工商户", "en": "Individual business"},
    "ui.registry.value.government": {"zh": "机关", "en": "Government body"},
    "ui.registry.value.institution": {"zh": "事业单位", "en": "Public institution"},
    "ui.registry.value.social_organisation": {"zh": "社会组织", "en": "Social organisation"},
    "ui.registry.value.other": {"zh": "其他", "en": "Other"},
    "ui.registry.value.M": {"zh": "男", "en": "Male"},
    "ui.registry.value.F": {"zh": "女", "en": "Female"},
    "ui.registry.value.exact": {"zh": "完全匹配", "en": "Exact match"},
    "ui.registry.value.door": {"zh": "门牌匹配", "en": "Matched by door"},
    "ui.registry.value.none": {"zh": "未匹配", "en": "Unmatched"},
    "ui.registry.value.ambiguous": {"zh": "多个匹配", "en": "Ambiguous"},
    "ui.registry.field.source": {"zh": "来源", "en": "Source"},
    "ui.registry.field.district": {"zh": "区", "en": "District"},
    "ui.registry.field.street": {"zh": "街道", "en": "Street"},
    "ui.registry.field.community": {"zh": "社区", "en": "Community"},
    "ui.registry.field.road": {"zh": "道路", "en": "Road"},
    "ui.registry.field.number": {"zh": "门牌号", "en": "Door number"},
    "ui.registry.field.estate": {"zh": "小区", "en": "Estate"},
    "ui.registry.field.building": {"zh": "楼栋", "en": "Building"},
    "ui.registry.field.unit": {"zh": "单元", "en": "Unit"},
    "ui.registry.field.room": {"zh": "房间", "en": "Room"},
    "ui.registry.field.address_id": {"zh": "标准地址编号", "en": "Standard address"},
    "ui.registry.field.house_id": {"zh": "房屋编号", "en": "House"},
    "ui.registry.field.created_at": {"zh": "创建时间", "en": "Created"},
    "ui.registry.field.updated_at": {"zh": "更新时间", "en": "Updated"},
    "open311_api_key_missing": {
        "zh": "缺少 API 密钥（api_key），无法提交请求",
        "en": "An API key (api_key) is required to submit a request",
    },
    "open311_field_required": {
        "zh": "缺少参数 {field}",
        "en": "The parameter {field} is required",
    },
    "open311_field_too_long": {
        "zh": "参数 {field} 最多 {max} 个字符",
        "en": "The parameter {field} may have at most {max} characters",
    },
    "open311_description_too_long": {
        "zh": "问题描述（description）最多 {max} 个字符，当前 {length} 个",
        "en": "The description may have at most {max} characters; it has {length}",
    },
    "open311_location_required": {
        "zh": "请提供位置：lat 和 long、address_string 或 address_id 之一",
        "en": "Give a location: lat and long, address_string or address_id",
    },
    "open311_lat_long_pair": {
        "zh": "lat 和 long 必须同时提供",
        "en": "lat and long must be given together",
    },
    "open311_not_a_number": {
        "zh": "参数 {field} 的值“{value}”不是数字",
        "en": "The parameter {field} is not a number: '{value}'",
    },
    "open311_bad_media_url": {
        "zh": "media_url 必须是 http 或 https 网址：“{value}”",
        "en": "media_url must be an http or https URL: '{value}'",
    },
    "open311_bad_email": {
        "zh": "email 不是有效的电子邮件地址：“{value}”",
        "en": "email is not a valid e-mail address: '{value}'",
    },
    "open311_too_many_media": {
        "zh": "照片（media）最多 {max} 张",
        "en": "At most {max} photos (media) may be sent",
    },
    "open311_service_not_found": {
        "zh": "没有服务代码为“{code}”的服务（service_code）",
        "en": "There is no service with the code '{code}' (service_code)",
    },
    "open311_attribute_unknown": {
        "zh": "该服务没有属性 attribute[{code}]，可用：{allowed}",
        "en": "The service has no attribute attribute[{code}]; it has: {allowed}",
    },
    "open311_attribute_required": {
        "zh": "属性 attribute[{code}] 为必填项",
        "en": "The attribute attribute[{code}] is required",
    },
    "open311_attribute_one_value": {
        "zh": "属性 attribute[{code}] 只能有一个值",
        "en": "The attribute attribute[{code}] takes one value",
    },
    "open311_attribute_bad_value": {
        "zh": "属性 attribute[{code}] 的值“{value}”不在可选项中：{allowed}",
        "en": "The attribute attribute[{code}] does not offer '{value}'; it offers: {allowed}",
    },
    "open311_attribute_not_number": {
        "zh": "属性 attribute[{code}] 须为数字，收到“{value}”",
        "en": "The attribute attribute[{code}] must be a number, not '{value}'",
    },
    "open311_attribute_not_datetime": {
        "zh": "属性 attribute[{code}] 须为 ISO 8601 时间，收到“{value}”",
        "en": "The attribute attribute[{code}] must be an ISO 8601 time, not '{value}'",
    },
    "open311_attribute_too_long": {
        "zh": "属性 attribute[{code}] 最多 {max} 个字符",
        "en": "The attribute attribute[{code}] may have at most {max} characters",
    },
    "open311_attribute_line_break": {
        "zh": "属性 attribute[{code}] 只能是一行文字",
        "en": "The attribute attribute[{code}] must be a single line",
    },
    "open311_bad_datetime": {
        "zh": "参数 {field} 不是 W3C 时间（如 2010-01-01T00:00:00Z）：“{value}”",
        "en": "The parameter {field} is not a W3C datetime (e.g. 2010-01-01T00:00:00Z): '{value}'",
    },
    "open311_date_range_reversed": {
        "zh": "end_date 早于 start_date",
        "en": "end_date is before start_date",
    },
    "open311_date_range_too_long": {
        "zh": "start_date 与 end_date 相隔不能超过 {days} 天",
        "en": "start_date and end_date may be at most {days} days apart",
    },
    "open311_bad_status": {
        "zh": "未知状态“{value}”（status），可选 open、closed",
        "en": "Unknown status '{value}' (status); expected open or closed",
    },
    "open311_bad_request_id": {
        "zh": "“{value}”不是请求编号（service_request_id）",
        "en": "'{value}' is not a request number (service_request_id)",
    },
    "open311_request_not_found": {
        "zh": "请求 {id} 不存在（service_request_id）",
        "en": "There is no request {id} (service_request_id)",
    },
    "open311_token_not_found": {
        "zh": "令牌“{token}”不存在（token）",
        "en": "There is no token '{token}' (token)",
    },
    "open311_format_not_found": {
        "zh": "不支持格式“{format}”，可用 json 或 xml",
        "en": "The format '{format}' is not served; use json or xml",
    },
    "open311.contact": {
        "zh": "如需帮助，请联系本平台管理员（分拨中心）",
        "en": "For help, contact the administrators of this platform (the dispatch centre)",
    },
    "open311.key_service": {
        "zh": "API 密钥由平台管理员发放（civicgrid apikey add）",
        "en": "API keys are issued by the platform's administrators (civicgrid apikey add)",
    },
    "open311.notice": {
        "zh": "由{department}负责办理，办理进度可随时查询",
        "en": "{department} is responsible; follow the request for its progress",
    },
    "open311.notice_centre": {
        "zh": "分拨中心将指派办理单位，办理进度可随时查询",
        "en": "The dispatch centre assigns a unit; follow the request for its progress",
    },
    "open311.merged_into": {
        "zh": "已合并到请求 {id}",
        "en": "merged into request {id}",
    },
    # Open311: the attribute list and importing exports
    "open311_csv_bad_datatype": {
        "zh": "“{value}”不是数据类型，可选：{allowed}",
        "en": "'{value}' is not a datatype; expected: {allowed}",
    },
    "open311_csv_bad_order": {
        "zh": "“{value}”不是正整数",
        "en": "'{value}' is not a positive whole number",
    },
    "open311_csv_order_taken": {
        "zh": "顺序 {value} 已被同一服务的第 {first} 行使用",
        "en": "the order {value} is taken by row {first} of the same service",
    },
    "open311_csv_bad_values": {
        "zh": "选项“{value}”应写作 key=名称=Name",
        "en": "the option '{value}' should read key=名称=Name",
    },
    "open311_csv_values_needed": {
        "zh": "单选和多选类型需要选项（values）",
        "en": "singlevaluelist and multivaluelist need options (values)",
    },
    "open311_csv_values_unexpected": {
        "zh": "类型 {datatype} 不需要选项（values）",
        "en": "the datatype {datatype} takes no options (values)",
    },
    "open311_csv_not_a_service": {
        "zh": "“{value}”不是有效的二级分类，不能作为服务",
        "en": "'{value}' is not an active level-2 category, so not a service",
    },
    "open311_mapping_unreadable": {
        "zh": "无法读取映射文件 {path}：{reason}",
        "en": "Cannot read the mapping file {path}: {reason}",
    },
    "open311_mapping_missing": {
        "zh": "映射文件 {path} 缺少 {field}",
        "en": "The mapping file {path} lacks {field}",
    },
    "open311_mapping_unknown_field": {
        "zh": "映射文件 {path} 中有未知项 {field}",
        "en": "The mapping file {path} has an unknown entry {field}",
    },
    "open311_mapping_bad_value": {
        "zh": "映射文件 {path} 中 {field} 的值无效：{value}",
        "en": "The mapping file {path} has an invalid {field}: {value}",
    },
    "open311_import_unknown_unit": {
        "zh": "映射文件把机构 {agency} 对应到不存在的单位 {unit}",
        "en": "The mapping sends the agency {agency} to the unit {unit}, which does not exist",
    },
    "open311_import_unknown_category": {
        "zh": "映射文件把类型“{type}”对应到无效分类 {code}",
        "en": "The mapping sends the type '{type}' to {code}, which is not an active category",
    },
    "open311_import_no_city": {
        "zh": "尚未导入市级区域，无法为未对应的机构建立单位",
        "en": "There is no city-level area to create units for unmapped agencies in",
    },
    "open311_import_unmapped_agency": {
        "zh": "机构“{value}”没有对应的单位",
        "en": "the agency '{value}' has no unit in the mapping",
    },
    "open311_import_duplicate_key": {
        "zh": "编号“{value}”重复（首次出现于第 {first} 行）",
        "en": "the key '{value}' repeats (first in row {first})",
    },
    "open311_import_bad_date": {
        "zh": "“{value}”不符合时间格式 {format}",
        "en": "'{value}' does not match the date format {format}",
    },
    "open311_import_bad_number": {
        "zh": "“{value}”不是数字",
        "en": "'{value}' is not a number",
    },
    "open311_import_half_point": {
        "zh": "纬度和经度必须同时填写",
        "en": "latitude and longitude must both be given",
    },
    "open311_import_no_location": {
        "zh": "没有位置：既无经纬度，也无地址",
        "en": "no location: neither coordinates nor an address",
    },
    "open311_import_closed_early": {
        "zh": "结案时间早于创建时间",
        "en": "closed before it was created",
    },
    "open311_import_aborted": {
        "zh": "导入中止：{count} 行有误，未写入任何数据（加 --partial 可导入其余各行）",
        "en": "Import aborted: {count} rows are wrong and nothing was written "
        "(--partial imports the other rows)",
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
    "msg.joined": {
        "zh": "【CivicGrid】您已附议案件 {id}（{category}），处理进展会通知您。",
        "en": "[CivicGrid] You added your voice to case {id} ({category}); you will hear "
        "how it goes.",
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
    # transparency (透明治理): the public page, its figures and its errors
    "transparency_bad_date": {
        "zh": "参数 {field} 的日期格式应为 YYYY-MM-DD：“{value}”",
        "en": "The parameter {field} must be a date written YYYY-MM-DD: '{value}'",
    },
    "transparency_period_reversed": {
        "zh": "参数 to（{last}）早于 from（{first}）",
        "en": "The parameter to ({last}) is before from ({first})",
    },
    "transparency_period_too_long": {
        "zh": "期间 from {first} 至 to {last} 共 {days} 天，最长 {max} 天",
        "en": "The period from {first} to {last} is {days} days long; at most {max} days",
    },
    "transparency_unknown_area": {
        "zh": "参数 area：区域编码 {code} 不存在",
        "en": "The parameter area names no known area: {code}",
    },
    "ui.nav.transparency": {"zh": "透明治理", "en": "Transparency"},
    "tp.title": {"zh": "透明治理 · 公开数据", "en": "Transparency: open figures"},
    "tp.intro": {
        "zh": "本页公开群众诉求的受理、办理和评价情况以及事权清单，无需登录即可查看和下载。"
        "所有数据均已去除个人信息。",
        "en": "How residents' reports are taken up, handled and rated, and who is responsible "
        "for what: open to everyone, no login needed. Personal data is removed throughout.",
    },
    "tp.filter.legend": {"zh": "筛选", "en": "Filter"},
    "tp.filter.from": {"zh": "开始日期（from）", "en": "From (from)"},
    "tp.filter.to": {"zh": "结束日期（to）", "en": "To (to)"},
    "tp.filter.area": {"zh": "区域（area）", "en": "Area (area)"},
    "tp.filter.submit": {"zh": "查看", "en": "Show"},
    "tp.filter.reset": {"zh": "重置", "en": "Reset"},
    "tp.filter.hint": {
        "zh": "默认为最近 12 个月；期间最长 {max} 天。日期按协调世界时（UTC）计算。",
        "en": "The last 12 months unless you choose; at most {max} days. Days are in UTC.",
    },
    "tp.period": {
        "zh": "{first} 至 {last}（{days} 天）",
        "en": "{first} to {last} ({days} days)",
    },
    "tp.fig.reported": {"zh": "受理量", "en": "Reported"},
    "tp.fig.open": {"zh": "在办", "en": "Still open"},
    "tp.fig.closed": {"zh": "已结案", "en": "Closed"},
    "tp.fig.rejected": {"zh": "不予受理", "en": "Not taken up"},
    "tp.fig.closed_in_period": {"zh": "期内结案", "en": "Closed in the period"},
    "tp.fig.on_time": {"zh": "按时结案", "en": "Closed on time"},
    "tp.fig.on_time_rate": {"zh": "按时结案率", "en": "On-time rate"},
    "tp.fig.median": {"zh": "办结时长中位数", "en": "Median time to close"},
    "tp.fig.median_hours": {"zh": "办结时长中位数（小时）", "en": "Median hours to close"},
    "tp.fig.ratings": {"zh": "评价数", "en": "Ratings"},
    "tp.fig.mean": {"zh": "平均评分", "en": "Mean rating"},
    "tp.fig.satisfied": {"zh": "满意（4–5 分）", "en": "Satisfied (4–5)"},
    "tp.fig.satisfied_share": {"zh": "满意率", "en": "Satisfied"},
    "tp.fig.of_reported": {
        "zh": "在办 {open} · 已结案 {closed} · 不予受理 {rejected}",
        "en": "{open} open · {closed} closed · {rejected} not taken up",
    },
    "tp.fig.of_closed": {
        "zh": "期内结案 {closed} 件，其中按时 {on_time} 件",
        "en": "{on_time} of {closed} cases closed in the period",
    },
    "tp.fig.closed_count": {
        "zh": "期内结案 {closed} 件",
        "en": "{closed} cases closed in the period",
    },
    "tp.fig.of_ratings": {
        "zh": "满意率 {share}，共 {ratings} 条评价",
        "en": "{share} satisfied, {ratings} ratings",
    },
    "tp.fig.mean_value": {"zh": "{mean} 分（满分 5 分）", "en": "{mean} out of 5"},
    "tp.none": {"zh": "暂无", "en": "None yet"},
    "tp.by_month": {"zh": "每月受理量", "en": "Reported each month"},
    "tp.by_group": {"zh": "按类别", "en": "By category"},
    "tp.by_area": {"zh": "按区域", "en": "By area"},
    "tp.by_area_hint": {
        "zh": "点击区域名称查看下一级。",
        "en": "Tap an area's name for the level below.",
    },
    "tp.count": {"zh": "件数", "en": "Cases"},
    "tp.month": {"zh": "月份", "en": "Month"},
    "tp.group": {"zh": "大类", "en": "Group"},
    "tp.category": {"zh": "小类", "en": "Category"},
    "tp.map": {"zh": "近期案件地图", "en": "Map of recent cases"},
    "tp.map_hint": {
        "zh": "{start} 至 {end} 上报的最新 {count} 件（最多显示 {limit} 件）。",
        "en": "The {count} newest cases reported from {start} to {end} (at most {limit}).",
    },
    "tp.legend.open": {"zh": "在办（位置约 100 米）", "en": "Open (place to about 100 m)"},
    "tp.legend.closed": {"zh": "已结束（位置约 100 米）", "en": "Finished (place to about 100 m)"},
    "tp.legend.grid": {
        "zh": "涉及个人：仅显示所在网格中心",
        "en": "About a person: the grid's centre only",
    },
    "tp.recent": {"zh": "近期案件列表", "en": "Recent cases"},
    "tp.protected": {"zh": "涉及个人，不显示内容", "en": "About a person: not shown"},
    "tp.definitions": {"zh": "统计口径", "en": "Definitions"},
    "tp.def.reported": {
        "zh": "受理量：期内上报的案件数（按上报时间），不含合并到其他案件的重复件和作废件；"
        "按类别、区域（案件所在网格的上级区域）和月份分别统计。",
        "en": "Reported: cases reported in the period (by the time of the report), without "
        "duplicates merged into another case and voided entries; counted by category, by "
        "area (the areas above the case's grid) and by month.",
    },
    "tp.def.median": {
        "zh": "办结时长中位数：期内结案（状态为结案，结案时间在期内）的案件从上报到结案所用时间的"
        "中位数（偶数件时取中间两件的平均值），含挂账和重新办理的时间。",
        "en": "Median time to close: of the cases closed in the period (state closed, closing "
        "time inside the period), the middle of the times from report to closing (the mean "
        "of the two middle ones for an even number), suspensions and reopenings included.",
    },
    "tp.def.on_time": {
        "zh": "按时结案率：期内结案的案件中，没有任何环节超过事权清单规定时限（从未亮红灯）的"
        "案件所占比例。紧急案件时限减半，批准的延期计入时限，挂账期间不计时。",
        "en": "On-time rate: the share of the cases closed in the period in which no step "
        "ever passed the time limit of the authority list (never a red light). Urgent cases "
        "have half the time, approved extensions add to it, a suspended case's clock stops.",
    },
    "tp.def.satisfaction": {
        "zh": "满意度：期内结案案件的回访评价（1–5 分）的平均分；满意率为 4 分和 5 分所占比例。"
        "未评价的案件不计入。",
        "en": "Satisfaction: the mean of the ratings (1 to 5) given to the cases closed in "
        "the period; the satisfied share is the share of 4s and 5s. Unrated cases do not count.",
    },
    "tp.def.anonymisation": {
        "zh": "个人信息：不公开反映人的姓名、电话、邮箱、账号和地址，不公开问题描述；标题中的"
        "电话、证件号等长数字、邮箱、楼栋门牌房号和反映人姓名已去除，位置取整到约 100 米。"
        "涉及个人的案件"
        "（社会保障与民政类，以及房屋安全、群租房、治安、邻里纠纷、医疗服务、教育服务）"
        "和反映人要求匿名的案件只显示所在网格的中心，不显示标题。",
        "en": "Personal data: reporters' names, phones, e-mail addresses, accounts and "
        "addresses are never published, nor descriptions; titles lose long numbers (phones, "
        "ID numbers), e-mail addresses, house and flat numbers and the reporters' names, and "
        "places are rounded to "
        "about 100 m. Cases about a person (social security and civil affairs; building "
        "safety, group rentals, public order, neighbour disputes, medical and education "
        "services) and cases whose reporter asked to stay anonymous show only their grid's "
        "centre and no title.",
    },
    "tp.authority": {"zh": "事权清单", "en": "Authority list"},
    "tp.authority_intro": {
        "zh": "每类问题由哪一级的哪个单位负责，以及每个环节的办理时限（小时）。案件交给有事权的"
        "最低一级（小事不出村）；超过时限的可自动上报上一级。",
        "en": "Who is responsible for each kind of problem at each level, and the hours each "
        "step may take. A case goes to the lowest level with authority over it; an overdue "
        "one may rise a level by itself.",
    },
    "tp.authority.unit": {"zh": "责任单位", "en": "Responsible unit"},
    "tp.authority.total": {"zh": "合计", "en": "Total"},
    "tp.authority.escalates": {"zh": "超时上报", "en": "Rises when late"},
    "tp.authority.whole_group": {"zh": "整个大类", "en": "whole group"},
    "tp.authority.only_in": {"zh": "仅限{area}", "en": "only in {area}"},
    "tp.authority.unit_of": {
        "zh": "{level}{function}部门",
        "en": "the {level}'s {function} unit",
    },
    "tp.authority.hours": {"zh": "各环节时限（小时）", "en": "Hours per step"},
    "tp.yes": {"zh": "是", "en": "yes"},
    "tp.no": {"zh": "否", "en": "no"},
    "tp.step.accept": {"zh": "受理", "en": "Accept"},
    "tp.step.register": {"zh": "立案", "en": "Register"},
    "tp.step.dispatch": {"zh": "派遣", "en": "Dispatch"},
    "tp.step.start": {"zh": "响应", "en": "Start"},
    "tp.step.handle": {"zh": "处置", "en": "Handle"},
    "tp.step.verify": {"zh": "核查", "en": "Verify"},
    "tp.step.close": {"zh": "结案", "en": "Close"},
    "tp.downloads": {"zh": "下载数据", "en": "Download the data"},
    "tp.downloads_hint": {
        "zh": "与本页筛选条件相同。CSV 为 UTF-8 编码（带 BOM），可直接用 Excel 打开；"
        "第一行是英文字段名，含义如下。",
        "en": "With this page's filters. CSV files are UTF-8 with a byte-order mark, so Excel "
        "opens them directly; the first row holds English column names, explained below.",
    },
    "tp.download.summary": {"zh": "统计数据", "en": "Figures"},
    "tp.download.cases": {"zh": "近期案件", "en": "Recent cases"},
    "tp.download.authority": {"zh": "事权清单", "en": "Authority list"},
    "tp.columns": {"zh": "近期案件 CSV 字段", "en": "Columns of the recent-cases CSV"},
    "tp.col.id": {"zh": "案件编号", "en": "case number"},
    "tp.col.reported_on": {"zh": "上报日期（UTC）", "en": "day reported (UTC)"},
    "tp.col.closed_on": {"zh": "结束日期（UTC）", "en": "day finished (UTC)"},
    "tp.col.state": {"zh": "open 在办 / closed 已结束", "en": "open or closed"},
    "tp.col.status": {"zh": "具体状态", "en": "precise state"},
    "tp.col.group": {
        "zh": "大类编码，group_name(_en) 为名称",
        "en": "level-1 group, with its names",
    },
    "tp.col.category": {
        "zh": "小类编码，category_name(_en) 为名称",
        "en": "category, with its names",
    },
    "tp.col.district": {"zh": "区编码，district_name 为名称", "en": "district, with its name"},
    "tp.col.street": {"zh": "街道编码，street_name 为名称", "en": "street, with its name"},
    "tp.col.grid": {"zh": "网格编码", "en": "grid"},
    "tp.col.lat": {"zh": "纬度 / 经度（WGS84）", "en": "latitude / longitude (WGS84)"},
    "tp.col.precision": {
        "zh": "point：约 100 米；grid：网格中心",
        "en": "point: to about 100 m; grid: the grid's centre",
    },
    "tp.col.protected": {"zh": "涉及个人（true/false）", "en": "about a person (true/false)"},
    "tp.col.title": {"zh": "标题（涉及个人时为空）", "en": "title (empty when about a person)"},
    "tp.generated": {
        "zh": "数据生成于 {time}，每分钟更新。",
        "en": "Figures of {time}, renewed every minute.",
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
    "ui.error_title": {"zh": "无法打开此页面", "en": "This page cannot be shown"},
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
    # pages: cases (事件/工单)
    "ui.nav.label": {"zh": "功能", "en": "Sections"},
    "ui.nav.dispatch": {"zh": "调度中心", "en": "Dispatch"},
    "ui.nav.inbox": {"zh": "部门待办", "en": "Inbox"},
    "ui.nav.grid": {"zh": "我的网格", "en": "My grid"},
    "ui.nav.report": {"zh": "我要反映", "en": "Report"},
    "ui.nav.track": {"zh": "进度查询", "en": "Track"},
    "status.reported": {"zh": "已上报", "en": "Reported"},
    "status.accepted": {"zh": "已受理", "en": "Accepted"},
    "status.rejected": {"zh": "不予受理", "en": "Rejected"},
    "status.registered": {"zh": "已立案", "en": "Registered"},
    "status.dispatched": {"zh": "已派遣", "en": "Dispatched"},
    "status.in_progress": {"zh": "处置中", "en": "In progress"},
    "status.suspended": {"zh": "挂账", "en": "On hold"},
    "status.resolved": {"zh": "处置完成", "en": "Resolved"},
    "status.verified": {"zh": "核查通过", "en": "Verified"},
    "status.closed": {"zh": "已结案", "en": "Closed"},
    "status.voided": {"zh": "已作废", "en": "Voided"},
    "status.merged": {"zh": "已合并", "en": "Merged"},
    "action.accept": {"zh": "受理", "en": "Accept"},
    "action.reject": {"zh": "不予受理", "en": "Reject"},
    "action.register": {"zh": "立案", "en": "Register"},
    "action.dispatch": {"zh": "派遣", "en": "Dispatch"},
    "action.whistle": {"zh": "吹哨（多部门）", "en": "Whistle (several units)"},
    "action.return": {"zh": "退回", "en": "Return"},
    "action.start": {"zh": "开始处置", "en": "Start"},
    "action.check_in": {"zh": "报到", "en": "Check in"},
    "action.resolve": {"zh": "处置完成", "en": "Resolve"},
    "action.request_extension": {"zh": "申请延期", "en": "Ask for more time"},
    "action.approve_extension": {"zh": "批准延期", "en": "Approve extension"},
    "action.deny_extension": {"zh": "驳回延期", "en": "Deny extension"},
    "action.suspend": {"zh": "挂账", "en": "Put on hold"},
    "action.resume": {"zh": "恢复办理", "en": "Resume"},
    "action.verify": {"zh": "核查通过", "en": "Verify: passed"},
    "action.rework": {"zh": "核查不通过", "en": "Verify: failed"},
    "action.close": {"zh": "结案", "en": "Close"},
    "action.rate": {"zh": "评价", "en": "Rate"},
    "action.reopen": {"zh": "重新办理", "en": "Reopen"},
    "action.void": {"zh": "作废", "en": "Void"},
    "action.escalate": {"zh": "上报上级", "en": "Escalate"},
    "action.merge": {"zh": "合并", "en": "Merge"},
    "action.amend": {"zh": "修改分类/位置", "en": "Amend"},
    "action.resolve_on_spot": {"zh": "就地解决", "en": "Resolve on the spot"},
    "action.report": {"zh": "上报", "en": "Reported"},
    "action.overdue": {"zh": "超时", "en": "Overdue"},
    "action.absorb": {"zh": "并入重复件", "en": "Duplicate merged in"},
    "action.join": {"zh": "附议", "en": "Added their voice"},
    "channel.resident_web": {"zh": "居民网上反映", "en": "Resident (web)"},
    "channel.open311": {"zh": "Open311 接口", "en": "Open311"},
    "channel.hotline": {"zh": "12345 热线", "en": "Hotline"},
    "channel.grid_worker": {"zh": "网格员上报", "en": "Grid worker"},
    "channel.sensor": {"zh": "物联感知", "en": "Sensor"},
    "channel.wechat_group": {"zh": "微信群", "en": "WeChat group"},
    "priority.normal": {"zh": "普通", "en": "Normal"},
    "priority.urgent": {"zh": "紧急", "en": "Urgent"},
    "light.green": {"zh": "正常", "en": "On time"},
    "light.yellow": {"zh": "临近时限", "en": "Due soon"},
    "light.red": {"zh": "已超时", "en": "Overdue"},
    "light.none": {"zh": "不计时", "en": "No clock"},
    "ui.dur.days": {"zh": "{days}天{hours}小时", "en": "{days} d {hours} h"},
    "ui.dur.hours": {"zh": "{hours}小时{minutes}分", "en": "{hours} h {minutes} min"},
    "ui.dur.minutes": {"zh": "{minutes}分钟", "en": "{minutes} min"},
    "ui.due_in": {"zh": "剩余 {time}", "en": "{time} left"},
    "ui.overdue_by": {"zh": "超时 {time}", "en": "{time} overdue"},
    "ui.case.heading": {"zh": "案件 {id}", "en": "Case {id}"},
    "ui.case.number": {"zh": "编号", "en": "No."},
    "ui.case.title": {"zh": "标题", "en": "Title"},
    "ui.case.category": {"zh": "类别", "en": "Category"},
    "ui.case.grid": {"zh": "网格", "en": "Grid"},
    "ui.case.unit": {"zh": "处置单位", "en": "Unit"},
    "ui.case.status": {"zh": "状态", "en": "State"},
    "ui.case.deadline": {"zh": "时限", "en": "Deadline"},
    "ui.case.actions": {"zh": "操作", "en": "Actions"},
    "ui.case.channel": {"zh": "来源", "en": "Channel"},
    "ui.case.priority": {"zh": "紧急程度", "en": "Priority"},
    "ui.case.address": {"zh": "地址", "en": "Address"},
    "ui.case.coordinates": {"zh": "坐标", "en": "Coordinates"},
    "ui.case.handling": {"zh": "办理层级", "en": "Handled at"},
    "ui.case.suggested_unit": {"zh": "建议单位", "en": "Suggested unit"},
    "ui.case.suggested": {"zh": "建议：{unit}", "en": "Suggested: {unit}"},
    "ui.case.handlers": {"zh": "承办单位", "en": "Units on the case"},
    "ui.case.lead": {"zh": "牵头", "en": "lead"},
    "ui.case.checked_in": {"zh": "已报到", "en": "checked in"},
    "ui.case.not_checked_in": {"zh": "未报到", "en": "not checked in"},
    "ui.case.created": {"zh": "上报时间", "en": "Reported"},
    "ui.case.updated": {"zh": "最近更新", "en": "Last change"},
    "ui.case.rework_count": {"zh": "返工次数", "en": "Reworks"},
    "ui.case.escalation_count": {"zh": "上报上级次数", "en": "Escalations"},
    "ui.case.pending_extension": {"zh": "待批延期", "en": "Extension asked"},
    "ui.case.hours_value": {"zh": "{hours} 小时", "en": "{hours} h"},
    "ui.case.resolved_at": {"zh": "处置完成时间", "en": "Resolved"},
    "ui.case.closed_at": {"zh": "办结时间", "en": "Closed"},
    "ui.case.resolution": {"zh": "办理结果", "en": "Answer"},
    "ui.case.satisfaction": {"zh": "满意度", "en": "Satisfaction"},
    "ui.case.rating_comment": {"zh": "评价意见", "en": "Comment"},
    "ui.case.merged_into": {"zh": "已并入", "en": "Merged into"},
    "ui.case.on_spot": {
        "zh": "网格员已就地解决",
        "en": "Resolved on the spot by the grid worker",
    },
    "ui.case.description": {"zh": "问题描述", "en": "Description"},
    "ui.case.timeline": {"zh": "办理过程", "en": "Timeline"},
    "ui.case.messages": {"zh": "给反映人的答复", "en": "Answers to the reporters"},
    "ui.case.no_messages": {"zh": "暂无答复", "en": "No answers yet"},
    "ui.case.reporters": {"zh": "反映人", "en": "Reporters"},
    "ui.case.duplicates": {"zh": "疑似重复件", "en": "Possible duplicates"},
    "ui.case.duplicates_hint": {
        "zh": "附近同类别、近期上报的在办案件；确认是同一问题后，可将本案件并入其中。",
        "en": "Open cases of the same category reported nearby shortly before; when it is "
        "the same problem, merge this case into one of them.",
    },
    "ui.case.merge_into": {"zh": "并入 {id}", "en": "Merge into {id}"},
    "ui.case.act": {"zh": "办理", "en": "Act on this case"},
    "ui.case.no_actions": {
        "zh": "您当前没有可以对本案件执行的操作。",
        "en": "There is nothing for you to do on this case now.",
    },
    "ui.case.sent": {"zh": "已发送", "en": "sent"},
    "ui.case.unsent": {"zh": "待发送", "en": "waiting to be sent"},
    "ui.case.photo": {"zh": "现场照片", "en": "Photo"},
    "ui.case.system": {"zh": "系统", "en": "System"},
    "ui.case.open": {"zh": "查看", "en": "Open"},
    "ui.case.back": {"zh": "返回", "en": "Back"},
    "ui.case.error_title": {"zh": "操作未完成", "en": "Not done"},
    "ui.case.done": {"zh": "“{action}”已完成", "en": "{action}: done"},
    "ui.case.none": {"zh": "无", "en": "none"},
    "ui.event.unit": {"zh": "单位：{name}", "en": "Unit: {name}"},
    "ui.event.whistle": {
        "zh": "召集：{names}；牵头：{lead}",
        "en": "Summoned: {names}; lead: {lead}",
    },
    "ui.event.hours": {"zh": "延期 {hours} 小时", "en": "{hours} more hours"},
    "ui.event.into": {"zh": "并入案件 {id}", "en": "Merged into case {id}"},
    "ui.event.absorbed": {
        "zh": "案件 {id} 并入本案（{reporters} 位反映人）",
        "en": "Case {id} merged into this one ({reporters} reporters)",
    },
    "ui.event.level": {"zh": "转至{level}级办理", "en": "Now handled at {level} level"},
    "ui.event.satisfaction": {"zh": "满意度 {score}/5", "en": "Satisfaction {score}/5"},
    "ui.event.urgency": {
        "zh": "紧急程度 {score}：{words}",
        "en": "Urgency {score}: {words}",
    },
    "ui.event.sentiment": {
        "zh": "情感倾向 {label}（{score}）：{words}",
        "en": "Tone {label} ({score}): {words}",
    },
    "sentiment.negative": {"zh": "负面", "en": "negative"},
    "sentiment.neutral": {"zh": "中性", "en": "neutral"},
    "sentiment.positive": {"zh": "正面", "en": "positive"},
    "ui.form.reason": {"zh": "原因", "en": "Reason"},
    "ui.form.note": {"zh": "说明（可选）", "en": "Note (optional)"},
    "ui.form.resolve_note": {"zh": "处置情况", "en": "What was done"},
    "ui.form.photos": {"zh": "现场照片", "en": "Photos"},
    "ui.form.department": {"zh": "处置单位", "en": "Unit"},
    "ui.form.departments": {
        "zh": "召集单位（按住 Ctrl 或长按可多选）",
        "en": "Units to summon (hold Ctrl, or long-press, to pick several)",
    },
    "ui.form.lead": {"zh": "牵头单位", "en": "Lead unit"},
    "ui.form.satisfaction": {"zh": "满意度", "en": "Satisfaction"},
    "ui.form.satisfaction_1": {"zh": "1 很不满意", "en": "1 very unhappy"},
    "ui.form.satisfaction_2": {"zh": "2 不满意", "en": "2 unhappy"},
    "ui.form.satisfaction_3": {"zh": "3 一般", "en": "3 so-so"},
    "ui.form.satisfaction_4": {"zh": "4 满意", "en": "4 happy"},
    "ui.form.satisfaction_5": {"zh": "5 很满意", "en": "5 very happy"},
    "ui.form.comment": {"zh": "评价意见（可选）", "en": "Comment (optional)"},
    "ui.form.hours": {"zh": "需要延长的小时数", "en": "Extra hours needed"},
    "ui.form.into": {"zh": "并入的案件编号", "en": "Number of the case to merge into"},
    "ui.form.category": {"zh": "问题类别", "en": "Category"},
    "ui.form.priority": {"zh": "紧急程度", "en": "Priority"},
    "ui.form.unchanged": {"zh": "不变", "en": "Unchanged"},
    "ui.form.unchanged_value": {"zh": "不变（{value}）", "en": "Unchanged ({value})"},
    "ui.form.lat": {"zh": "纬度", "en": "Latitude"},
    "ui.form.lon": {"zh": "经度", "en": "Longitude"},
    "ui.form.auto_category": {
        "zh": "不确定，由系统根据描述判断",
        "en": "Not sure: decide from the description",
    },
    "ui.form.units_here": {"zh": "本案件所在区域的单位", "en": "Units of the case's area"},
    "ui.form.units_other": {"zh": "其他单位", "en": "Other units"},
    "ui.form.not_a_number": {
        "zh": "“{field}”应填写数字，收到的是“{value}”",
        "en": "'{field}' must be a number, not '{value}'",
    },
    "ui.form.bad_choice": {
        "zh": "“{field}”没有“{value}”这个选项",
        "en": "'{value}' is not a choice for '{field}'",
    },
    "ui.form.too_many_photos": {
        "zh": "最多上传 {max} 张照片",
        "en": "At most {max} photos can be uploaded",
    },
    "ui.dispatch.title": {"zh": "调度中心", "en": "Dispatch centre"},
    "ui.dispatch.read_only": {
        "zh": "只读视图：可查看全部在办案件，不能办理。",
        "en": "Read-only view: you see every open case but do not act on them.",
    },
    "ui.dispatch.total": {
        "zh": "共 {total} 件，第 {page}/{pages} 页",
        "en": "{total} cases, page {page} of {pages}",
    },
    "ui.dispatch.empty": {"zh": "没有符合条件的在办案件", "en": "No open case matches"},
    "ui.dispatch.all_open": {"zh": "全部在办", "en": "All open"},
    "ui.dispatch.all": {"zh": "全部", "en": "All"},
    "ui.dispatch.group_all": {"zh": "{name}（全部）", "en": "{name} (all)"},
    "ui.dispatch.grid_hint": {"zh": "网格编码", "en": "Grid code"},
    "ui.dispatch.overdue": {"zh": "只看超时", "en": "Overdue only"},
    "ui.dispatch.search": {"zh": "搜索标题或描述", "en": "Search titles and descriptions"},
    "ui.dispatch.filter": {"zh": "筛选", "en": "Filter"},
    "ui.dispatch.dispatch_to": {"zh": "派遣至{unit}", "en": "Dispatch to {unit}"},
    "ui.dispatch.choose_unit": {"zh": "选择单位", "en": "Choose a unit"},
    "ui.dispatch.previous": {"zh": "上一页", "en": "Previous"},
    "ui.dispatch.next": {"zh": "下一页", "en": "Next"},
    "ui.dispatch.map": {"zh": "在办案件分布", "en": "Map of open cases"},
    # hot spots and early warning (风险预警)
    "warning_not_found": {"zh": "预警 {id} 不存在", "en": "Unknown warning {id}"},
    "warning_wrong_state": {
        "zh": "预警 {id} 当前状态为“{state}”，只能变为：{allowed}",
        "en": "Warning {id} is '{state}'; it can only become: {allowed}",
    },
    "warning_unknown_kind": {
        "zh": "未知预警类型“{value}”，可选：{allowed}",
        "en": "Unknown warning kind '{value}', expected one of: {allowed}",
    },
    "warning_unknown_state": {
        "zh": "未知预警状态“{value}”，可选：{allowed}",
        "en": "Unknown warning state '{value}', expected one of: {allowed}",
    },
    "warning_bad_date": {
        "zh": "日期“{value}”格式有误，应为 YYYY-MM-DD",
        "en": "Date '{value}' is not YYYY-MM-DD",
    },
    "warning.explain.surge": {
        "zh": "网格 {grid} {day} {category} {observed} 件，过去 {weeks} 个同星期（{weekday}）"
        "日均 {weekday_mean} 件，预期 {expected} 件（{p}，多重检验校正后 {q}）",
        "en": "Grid {grid}: {observed} {category} cases on {day}; the past {weeks} {weekday}s "
        "averaged {weekday_mean} a day, {expected} expected ({p}; {q} after correcting for "
        "multiple tests)",
    },
    "warning.explain.hotspot_history": {
        "zh": "{category}聚集：网格 {grid} 及相邻 {others} 个网格近 {days} 天（至 {day}）共 "
        "{observed} 件，按此前 {history_days} 天的水平应为 {expected} 件（Gi* z={z}，"
        "多重检验校正后 {q}）",
        "en": "{category} hot spot: grid {grid} and {others} neighbouring grids had {observed} "
        "cases in the {days} days to {day}, against {expected} at their rate of the "
        "{history_days} days before (Gi* z={z}; {q} after correcting for multiple tests)",
    },
    "warning.explain.hotspot": {
        "zh": "{category}聚集：网格 {grid} 及相邻 {others} 个网格近 {days} 天（至 {day}）共 "
        "{observed} 件，按全市网格平均应为 {expected} 件（Gi* z={z}，多重检验校正后 {q}）",
        "en": "{category} hot spot: grid {grid} and {others} neighbouring grids had {observed} "
        "cases in the {days} days to {day}, against {expected} at the city's average per grid "
        "(Gi* z={z}; {q} after correcting for multiple tests)",
    },
    "warning.notice": {
        "zh": "【风险预警 #{id}】{explanation}。请登录平台“风险预警”页面查看并处置。",
        "en": "[Risk warning #{id}] {explanation}. See the platform's Warnings page.",
    },
    "warning.weekday.0": {"zh": "星期一", "en": "Monday"},
    "warning.weekday.1": {"zh": "星期二", "en": "Tuesday"},
    "warning.weekday.2": {"zh": "星期三", "en": "Wednesday"},
    "warning.weekday.3": {"zh": "星期四", "en": "Thursday"},
    "warning.weekday.4": {"zh": "星期五", "en": "Friday"},
    "warning.weekday.5": {"zh": "星期六", "en": "Saturday"},
    "warning.weekday.6": {"zh": "星期日", "en": "Sunday"},
    "warning.scanned": {
        "zh": "{day}：发现热点 {hotspots} 处、激增 {surges} 起；"
        "新预警 {raised} 条，更新 {updated} 条，待发通知 {notices} 条（共读取 {cases} 件案件）",
        "en": "{day}: {hotspots} hot spots and {surges} surges found; {raised} new warnings, "
        "{updated} updated, {notices} notices queued ({cases} cases read)",
    },
    "warning.sent": {"zh": "已发送通知 {count} 条", "en": "{count} notices sent"},
    "warning.none": {"zh": "没有符合条件的预警", "en": "No warning matches"},
    "ui.nav.warnings": {"zh": "风险预警", "en": "Warnings"},
    "ui.warnings.title": {"zh": "风险预警", "en": "Risk warnings"},
    "ui.warnings.intro": {
        "zh": "系统每小时检测：相邻网格同类案件的显著聚集（热点，Getis-Ord Gi*）"
        "和网格当日案件相对自身历史的激增；经多重检验校正，少量案件不会触发预警。",
        "en": "Scanned every hour: significant clusters of one kind of case across neighbouring "
        "grids (hot spots, Getis-Ord Gi*) and a grid's day far above its own history (surges); "
        "corrected for multiple tests, so a few cases never raise one.",
    },
    "ui.warnings.kind": {"zh": "类型", "en": "Kind"},
    "ui.warnings.kind.hotspot": {"zh": "热点聚集", "en": "Hot spot"},
    "ui.warnings.kind.surge": {"zh": "突增", "en": "Surge"},
    "ui.warnings.state": {"zh": "状态", "en": "State"},
    "ui.warnings.state.new": {"zh": "新预警", "en": "New"},
    "ui.warnings.state.acknowledged": {"zh": "已确认", "en": "Acknowledged"},
    "ui.warnings.state.closed": {"zh": "已关闭", "en": "Closed"},
    "ui.warnings.open": {"zh": "未关闭", "en": "Open"},
    "ui.warnings.all": {"zh": "全部", "en": "All"},
    "ui.warnings.filter": {"zh": "筛选", "en": "Filter"},
    "ui.warnings.empty": {"zh": "没有符合条件的预警", "en": "No warning matches"},
    "ui.warnings.figures": {
        "zh": "实际 {observed} 件 / 预期 {expected} 件",
        "en": "{observed} cases / {expected} expected",
    },
    "ui.warnings.grids": {"zh": "涉及网格：{grids}", "en": "Grids: {grids}"},
    "ui.warnings.seen": {
        "zh": "{day} 发现，最近 {last} 仍存在",
        "en": "Found {day}, last seen {last}",
    },
    "ui.warnings.handled": {"zh": "{who} 于 {at}：{note}", "en": "{who} at {at}: {note}"},
    "ui.warnings.note": {"zh": "处置说明（可选）", "en": "Note (optional)"},
    "ui.warnings.acknowledge": {"zh": "确认，正在处理", "en": "Acknowledge"},
    "ui.warnings.close": {"zh": "关闭", "en": "Close"},
    "ui.warnings.cases": {"zh": "查看在办案件", "en": "Open cases"},
    "ui.warnings.on_map": {"zh": "在地图上显示风险预警", "en": "Show warnings on the map"},
    "ui.warnings.list_link": {"zh": "预警列表", "en": "All warnings"},
    "ui.warnings.read_only": {
        "zh": "您可以查看本区域的预警；确认和关闭由干部、坐席员和领导处理。",
        "en": "You see the warnings of your area; cadres, dispatchers and leaders handle them.",
    },
    "ui.list.total": {"zh": "共 {total} 件", "en": "{total} cases"},
    "ui.list.first": {
        "zh": "共 {total} 件，以下是时限最近的 {shown} 件",
        "en": "{total} cases; the {shown} with the nearest deadlines are shown",
    },
    "ui.inbox.title": {"zh": "部门待办", "en": "Inbox"},
    "ui.inbox.empty": {"zh": "本单位暂无在办案件。", "en": "Your unit has no open case."},
    "ui.grid.title": {"zh": "我的网格", "en": "My grid"},
    "ui.grid.report": {"zh": "上报事件", "en": "Report a problem"},
    "ui.grid.to_verify": {"zh": "待核查", "en": "To check"},
    "ui.grid.mine": {"zh": "我上报、待受理的事件", "en": "My reports not yet taken up"},
    "ui.grid.others": {"zh": "网格内其他在办案件", "en": "Other open cases in my grid"},
    "ui.grid.nothing": {"zh": "暂无", "en": "None"},
    "ui.grid.reported": {
        "zh": "已上报，案件编号 {id}。",
        "en": "Reported: case number {id}.",
    },
    "ui.grid.duplicates_found": {
        "zh": "附近已有同类的在办案件：",
        "en": "Similar open cases nearby:",
    },
    "ui.grid.outside": {
        "zh": "该位置不在您的网格内，案件已转给所在网格办理。",
        "en": "That place is outside your grid; the case went to the grid it lies in.",
    },
    "ui.place.legend": {"zh": "位置", "en": "Place"},
    "ui.place.outside_grid": {
        "zh": "不在您的网格内，上报后将由所在网格办理",
        "en": "outside your grid; the grid it lies in will handle it",
    },
    "ui.place.gps": {"zh": "使用当前位置", "en": "Use my position"},
    "ui.place.hint": {
        "zh": "点按地图放置位置，或使用当前位置。",
        "en": "Tap the map to put a pin, or use your position.",
    },
    "ui.place.locating": {"zh": "正在定位…", "en": "Finding your position…"},
    "ui.place.located": {"zh": "位置：{name}", "en": "Place: {name}"},
    "ui.place.failed": {"zh": "无法获取位置：{reason}", "en": "No position: {reason}"},
    "ui.place.address": {"zh": "地址或地标（可选）", "en": "Address or landmark (optional)"},
    "ui.place.address_hint": {
        "zh": "例如：某某社区 3 号楼；没有选点时按地址定位。",
        "en": "For example a community and building; used to place the case when there is no pin.",
    },
    "ui.report.title": {"zh": "我要反映", "en": "Report a problem"},
    "ui.report.step1": {"zh": "1. 遇到了什么问题", "en": "1. What is wrong"},
    "ui.report.step2": {"zh": "2. 问题位置", "en": "2. Where it is"},
    "ui.report.step3": {"zh": "3. 照片和联系方式", "en": "3. Photos and how to reach you"},
    "ui.report.next": {"zh": "下一步", "en": "Next"},
    "ui.report.back": {"zh": "上一步", "en": "Back"},
    "ui.report.description": {"zh": "问题描述", "en": "Description"},
    "ui.report.description_hint": {
        "zh": "在哪里、什么情况、持续多久",
        "en": "Where, what is wrong, since when",
    },
    "ui.report.name": {"zh": "称呼（可选）", "en": "Your name (optional)"},
    "ui.report.phone": {
        "zh": "手机号（可选，用于接收答复和查询进度）",
        "en": "Mobile number (optional: for answers and tracking)",
    },
    "ui.report.submit": {"zh": "提交", "en": "Send"},
    "ui.report.done": {
        "zh": "已收到您的反映，案件编号 {id}。处理进展会通知您。",
        "en": "We received your report, case number {id}. You will hear how it goes.",
    },
    "ui.report.mine": {"zh": "我反映过的问题", "en": "My reports"},
    "ui.report.none": {"zh": "您还没有反映过问题。", "en": "You have not reported anything yet."},
    "ui.track.title": {"zh": "进度查询", "en": "Track a case"},
    "ui.track.intro": {
        "zh": "输入案件编号和反映时留下的电话号码。",
        "en": "Enter the case number and the phone number you gave when reporting.",
    },
    "ui.track.number": {"zh": "案件编号", "en": "Case number"},
    "ui.track.phone": {"zh": "电话号码", "en": "Phone number"},
    "ui.track.submit": {"zh": "查询", "en": "Look up"},
    "ui.track.state": {"zh": "当前进度", "en": "Where it stands"},
    "ui.track.answers": {"zh": "收到的答复", "en": "Answers received"},
    "track.reported": {
        "zh": "我们已收到您的反映，正在等待受理。",
        "en": "We have your report; it is waiting to be taken up.",
    },
    "track.accepted": {
        "zh": "您的反映已受理，正在核实立案。",
        "en": "Your report has been taken up and is being checked.",
    },
    "track.rejected": {
        "zh": "您的反映未能受理，原因见下方答复。",
        "en": "Your report could not be taken up; the answer below says why.",
    },
    "track.registered": {
        "zh": "已立案，正在安排处理部门。",
        "en": "A case is open and a unit is being chosen to handle it.",
    },
    "track.dispatched": {
        "zh": "已交给处理部门，等待开始处理。",
        "en": "A unit has it and will start work soon.",
    },
    "track.in_progress": {"zh": "处理部门正在处理。", "en": "A unit is working on it."},
    "track.suspended": {
        "zh": "暂时挂起，条件具备后继续处理。",
        "en": "On hold for now; work resumes when it can.",
    },
    "track.resolved": {
        "zh": "已处理完毕，正在核查处理效果。",
        "en": "The work is done and is being checked.",
    },
    "track.verified": {
        "zh": "处理效果已核查通过，即将办结。",
        "en": "The result has been checked and the case is about to close.",
    },
    "track.closed": {"zh": "已办结。", "en": "Finished."},
    "track.voided": {"zh": "该案件已作废。", "en": "This case was voided."},
    # the residents' portal: sign-up, report, nearby cases, following a case
    "ui.form.problems": {"zh": "请修改以下内容：", "en": "Please correct:"},
    "ui.field.category": {"zh": "问题类别", "en": "Category"},
    "ui.field.description": {"zh": "问题描述", "en": "Description"},
    "ui.field.place": {"zh": "问题位置", "en": "Place"},
    "ui.field.address": {"zh": "地址", "en": "Address"},
    "ui.field.photos": {"zh": "现场照片", "en": "Photos"},
    "ui.field.name": {"zh": "称呼", "en": "Name"},
    "ui.field.phone": {"zh": "手机号", "en": "Mobile number"},
    "ui.field.display_name": {"zh": "称呼", "en": "Name"},
    "ui.field.username": {"zh": "用户名", "en": "Username"},
    "ui.field.password": {"zh": "密码", "en": "Password"},
    "ui.field.password_again": {"zh": "再次输入密码", "en": "Password again"},
    "ui.field.number": {"zh": "案件编号", "en": "Case number"},
    "ui.signup.title": {"zh": "注册", "en": "Sign up"},
    "ui.signup.intro": {
        "zh": "注册后，您反映过的问题和收到的答复都会列在“我要反映”页面。",
        "en": "With an account, your reports and their answers are listed on the Report page.",
    },
    "ui.signup.display_name": {"zh": "称呼", "en": "Your name"},
    "ui.signup.phone": {"zh": "手机号", "en": "Mobile number"},
    "ui.signup.username": {"zh": "用户名（可选）", "en": "Username (optional)"},
    "ui.signup.username_hint": {
        "zh": "留空则用手机号登录",
        "en": "Leave it empty to log in with your mobile number",
    },
    "ui.signup.password_hint": {"zh": "至少 {min} 个字符", "en": "At least {min} characters"},
    "ui.signup.password_again": {"zh": "再次输入密码", "en": "Password again"},
    "ui.signup.submit": {"zh": "注册并登录", "en": "Sign up and log in"},
    "ui.signup.have_account": {"zh": "已有账号？", "en": "Have an account?"},
    "ui.signup.no_account": {"zh": "还没有账号？", "en": "No account yet?"},
    "ui.report.guest_note": {
        "zh": "不注册也可以反映，留下手机号即可接收答复、查询进度。",
        "en": "No account needed: leave a mobile number to get answers and follow the case.",
    },
    "ui.report.suggested": {"zh": "可能是：", "en": "Could be:"},
    "ui.report.photos_again": {
        "zh": "请重新选择照片（表单退回时浏览器不会保留已选的照片）。",
        "en": "Choose the photos again (browsers do not keep them when a form comes back).",
    },
    "ui.report.phone_guest": {
        "zh": "手机号（必填，用于接收答复和查询进度）",
        "en": "Mobile number (needed: for answers and tracking)",
    },
    "ui.report.hidden": {"zh": "公开时匿名", "en": "Stay anonymous to the public"},
    "ui.report.hidden_hint": {
        "zh": "只有调度中心能看到您的称呼和电话；公开的页面不显示您写的内容，"
        "照片里的位置信息会被去除。",
        "en": "Only the dispatch centre sees your name and number; public pages leave out "
        "your words, and the location is removed from your photos.",
    },
    "ui.report.follow_hint": {
        "zh": "凭案件编号和手机号可随时查询进度：",
        "en": "Follow it with the case number and your mobile number:",
    },
    "ui.report.joined": {
        "zh": "您已附议案件 {id}，处理进展会通知您。",
        "en": "You added your voice to case {id}; you will hear how it goes.",
    },
    "ui.nearby.title": {
        "zh": "附近已有人反映了同样的问题",
        "en": "Someone already reported this nearby",
    },
    "ui.nearby.hint": {
        "zh": "如果是同一件事，附议即可：处理进展同样会通知您，附议的人越多越受重视。",
        "en": "If it is the same problem, add your voice: you will hear how it goes, "
        "and the more voices, the more weight it has.",
    },
    "ui.nearby.distance": {"zh": "约 {metres} 米", "en": "about {metres} m away"},
    "ui.nearby.age": {"zh": "{time}前反映", "en": "reported {time} ago"},
    "ui.nearby.support": {"zh": "附议这件", "en": "Add my voice"},
    "ui.nearby.or_new": {
        "zh": "不是同一件事？继续填写并提交新的反映。",
        "en": "Not the same problem? Go on and send a new report.",
    },
    "ui.progress.title": {"zh": "办理进展", "en": "Progress"},
    "ui.progress.deadline": {"zh": "处理时限：", "en": "Time limit:"},
    "ui.progress.supporters": {"zh": "{count} 人附议", "en": "{count} added their voice"},
    "ui.panel.fixed_title": {"zh": "问题真的解决了吗？", "en": "Was it really fixed?"},
    "ui.panel.unit_says": {"zh": "处理单位说：{text}", "en": "The unit says: {text}"},
    "ui.panel.fixed_yes": {"zh": "是，已经解决了", "en": "Yes, it is fixed"},
    "ui.panel.fixed_no": {"zh": "没有，问题还在", "en": "No, it is still there"},
    "ui.panel.what_is_wrong": {"zh": "还有什么问题？", "en": "What is still wrong?"},
    "ui.panel.send_back": {"zh": "退回重新处理", "en": "Send it back"},
    "ui.panel.rate_title": {
        "zh": "您对处理结果满意吗？",
        "en": "How happy are you with the result?",
    },
    "ui.panel.rate": {"zh": "提交评价", "en": "Send my rating"},
    "ui.panel.rated": {
        "zh": "您的评价：{score} 分（满分 5 分）",
        "en": "Your rating: {score} out of 5",
    },
    "ui.panel.still_there": {"zh": "问题又出现了？", "en": "Is the problem back?"},
    "ui.panel.reopen_until": {"zh": "可申请重新办理，截至", "en": "You can reopen it until"},
    "ui.panel.reopen": {"zh": "申请重新办理", "en": "Reopen the case"},
    "ui.panel.reopen_passed": {
        "zh": "办结已超过 {days} 天，不能再申请重新办理。如果问题还在，请重新反映：",
        "en": "It was closed more than {days} days ago and can no longer be reopened. If the "
        "problem is still there, report it again:",
    },
    "ui.panel.report_again": {"zh": "重新反映", "en": "Report again"},
    "ui.track.done": {"zh": "已提交，谢谢！", "en": "Sent, thank you!"},
    "ui.track.supporter": {
        "zh": "您反映或附议了这件事，可以查看进展和答复；核实和评价由最先反映的人进行。",
        "en": "You reported or supported this problem: you can follow the progress and the "
        "answers; the person who first reported it confirms and rates the result.",
    },
    "ui.track.forget": {"zh": "结束查询", "en": "Forget this lookup"},
    "ui.case.guest": {"zh": "居民（未登录）", "en": "resident without an account"},
    "ui.case.phone_reporter": {"zh": "反映人（凭手机号）", "en": "the reporter (by phone)"},
    "ui.case.supporters": {"zh": "附议人数", "en": "Supporters"},
    "ui.case.anonymous": {"zh": "匿名", "en": "anonymous"},
    "ui.case.hidden_badge": {"zh": "公开时匿名", "en": "anonymous to the public"},
    # a case's timeline in plain words, for residents
    "plain.a_unit": {"zh": "处理单位", "en": "the unit"},
    "plain.report": {"zh": "收到反映", "en": "Report received"},
    "plain.accept": {"zh": "已受理", "en": "Taken up"},
    "plain.reject": {"zh": "未予受理，原因见答复", "en": "Not taken up; the answer says why"},
    "plain.register": {"zh": "已立案", "en": "Registered as a case"},
    "plain.dispatch": {"zh": "已交给{unit}处理", "en": "Handed to {unit}"},
    "plain.whistle": {
        "zh": "已交给{unit}牵头，多个单位协同处理",
        "en": "Handed to {unit}, with other units joining in",
    },
    "plain.return": {
        "zh": "{unit}退回，正在重新安排处理单位",
        "en": "{unit} handed it back; another unit is being chosen",
    },
    "plain.start": {"zh": "{unit}已接单", "en": "{unit} took the case"},
    "plain.check_in": {"zh": "{unit}已报到，协同处理", "en": "{unit} joined the work"},
    "plain.resolve": {
        "zh": "{unit}已处理完毕，等待核实",
        "en": "{unit} says the work is done; it is being checked",
    },
    "plain.approve_extension": {
        "zh": "处理时限延长了 {hours} 小时",
        "en": "The time limit was extended by {hours} h",
    },
    "plain.suspend": {"zh": "暂时挂起", "en": "Put on hold"},
    "plain.resume": {"zh": "恢复处理", "en": "Work resumed"},
    "plain.verify": {"zh": "核查通过：问题已解决", "en": "Checked: the problem is fixed"},
    "plain.verify_by_reporter": {
        "zh": "反映人确认问题已解决",
        "en": "The reporter confirmed it is fixed",
    },
    "plain.rework": {
        "zh": "核查未通过，退回重新处理",
        "en": "Checked: not fixed, sent back for more work",
    },
    "plain.rework_by_reporter": {
        "zh": "反映人说问题还在，已退回重新处理",
        "en": "The reporter said it is not fixed; sent back for more work",
    },
    "plain.close": {"zh": "已办结", "en": "Finished"},
    "plain.rate": {
        "zh": "反映人评价：{score} 分（满分 5 分）",
        "en": "The reporter rated it {score} out of 5",
    },
    "plain.reopen": {"zh": "应反映人要求重新办理", "en": "Reopened at the reporter's request"},
    "plain.void": {"zh": "已作废", "en": "Voided"},
    "plain.escalate": {"zh": "已提交{level}层级处理", "en": "Passed up to the {level} level"},
    "plain.merge": {"zh": "与案件 {into} 合并处理", "en": "Handled together with case {into}"},
    "plain.resolve_on_spot": {"zh": "网格员已现场解决", "en": "A grid worker fixed it on the spot"},
    "plain.overdue": {"zh": "本环节超过了处理时限", "en": "This step ran past its time limit"},
    "plain.absorb": {
        "zh": "另有 {count} 位居民反映了同一问题，一并处理",
        "en": "{count} more residents reported the same problem; handled together",
    },
    "plain.join": {
        "zh": "又有一位居民附议（共 {count} 人）",
        "en": "Another resident added their voice ({count} in all)",
    },
    "track.merged": {
        "zh": "有人反映了同一问题，已合并到另一案件一并处理。",
        "en": "Someone reported the same problem; both are handled together in another case.",
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
