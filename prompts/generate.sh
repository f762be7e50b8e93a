#!/usr/bin/env bash
# Regenerates the built-in Mandarin prompts with espeak-ng and sox (8 kHz, mono, 16-bit WAV).
# Tenants replace any of them by dropping a file of the same name in <data_dir>/prompts/<corp_id>/.
set -euo pipefail
cd "$(dirname "$0")/zh"
gen() { espeak-ng -v cmn -s 150 -w /tmp/yunhu-prompt.wav "$2" && sox /tmp/yunhu-prompt.wav -r 8000 -c 1 -b 16 -e signed-integer "$1.wav"; }
gen login_ok "登录成功"
gen logout_ok "已退出登录"
gen your_extension "您的分机号是"
gen not_found "您拨打的号码不存在"
gen abandoned "您好，这里是云呼，稍后再联系您"
gen predictive_on "已加入预测外呼"
gen predictive_off "已退出预测外呼"
digits=(零 一 二 三 四 五 六 七 八 九)
for i in "${!digits[@]}"; do gen "digit_$i" "${digits[$i]}"; done
# The inbound contact center: the queue's place and wait, its exit keys, a voice message, the
# survey, the predictive inbound number (feature code 002), and a default menu greeting.
gen queue_position "您前面还有"
gen queue_callers "位客户在等待"
gen queue_wait "预计等待"
gen minutes "分钟"
gen queue_exit_keys "请稍候，坐席正忙。需要回电请按一，留言请按二"
gen callback_ok "已为您登记回电，我们会按您的排队顺序回电，再见"
gen voicemail "请在提示音后留言，留言完毕请挂机"
gen survey "请为本次服务评分，非常满意请按五，不满意请按一"
gen survey_thanks "感谢您的评价，再见"
gen predictive_number "预测外呼的回呼号码是"
gen welcome "欢迎致电，销售请按一，服务请按二"
gen closed "现在是非工作时间，请在工作时间再来电"
