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
