// Package alipay is the adapter for Alipay's OpenAPI (the v2 gateway, RSA2, public-key mode) and
// its protocol rules: request signing (sorted parameters, sign and empty values excluded),
// verification of answers on the exact signed text of the *_response node and of async
// notifications (sign and sign_type excluded), amounts as yuan strings, Beijing times, and the
// code / sub_code classes that decide between a result, a decline and an unknown outcome.
//
// Pay methods: wallet_qr is alipay.trade.precreate (a qr_code), web_page is alipay.trade.page.pay
// and wallet_h5 alipay.trade.wap.pay (signed GET URLs the payer is sent to), withhold is
// alipay.trade.pay with agreement_params on an agreement signed through
// alipay.user.agreement.page.sign (which completes asynchronously). The simulator that speaks
// this protocol is package alipaysim.
package alipay
