#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| yunhu_fuzz::rtp(data));
