package wechatpay

// API paths of WeChat Pay APIv3 (direct merchant).
const (
	PathNative      = "/v3/pay/transactions/native"
	PathJSAPI       = "/v3/pay/transactions/jsapi"
	PathH5          = "/v3/pay/transactions/h5"
	PathByOutTrade  = "/v3/pay/transactions/out-trade-no/" // + {out_trade_no}[?mchid=] | + {out_trade_no}/close
	PathRefunds     = "/v3/refund/domestic/refunds"        // POST; GET + /{out_refund_no}
	PathTradeBill   = "/v3/bill/tradebill"
	PathBillFile    = "/v3/billdownload/file"
	EventPaySuccess = "TRANSACTION.SUCCESS"
)

// Trade states (trade_state) and refund statuses.
const (
	StateSuccess    = "SUCCESS"
	StateRefund     = "REFUND"
	StateNotPay     = "NOTPAY"
	StateClosed     = "CLOSED"
	StateRevoked    = "REVOKED"
	StateUserPaying = "USERPAYING"
	StatePayError   = "PAYERROR"

	RefundSuccess    = "SUCCESS"
	RefundProcessing = "PROCESSING"
	RefundClosed     = "CLOSED"
	RefundAbnormal   = "ABNORMAL"
)

// Error codes the adapter and the simulator give meaning to.
const (
	CodeSignError     = "SIGN_ERROR"
	CodeParamError    = "PARAM_ERROR"
	CodeSystemError   = "SYSTEM_ERROR"
	CodeOrderPaid     = "ORDERPAID"
	CodeOrderPaidAlt  = "ORDER_PAID"
	CodeOrderNotExist = "ORDER_NOT_EXIST"
	CodeOrderClosed   = "ORDER_CLOSED"
	CodeResourceNone  = "RESOURCE_NOT_EXISTS"
	CodeNoStatement   = "NO_STATEMENT_EXIST"
	CodeNotEnough     = "NOT_ENOUGH"
	CodeTradeError    = "TRADE_ERROR"
	CodeInvalidReq    = "INVALID_REQUEST"
	CodeOutNoUsed     = "OUT_TRADE_NO_USED"
	CodeRateLimited   = "RATELIMIT_EXCEEDED"
)

// Amount is an order amount in fen.
type Amount struct {
	Total    int64  `json:"total"`
	Currency string `json:"currency,omitempty"`
	// PayerTotal and PayerCurrency appear in transactions.
	PayerTotal    int64  `json:"payer_total,omitempty"`
	PayerCurrency string `json:"payer_currency,omitempty"`
}

// Payer is the payer of a JSAPI order or a transaction.
type Payer struct {
	OpenID string `json:"openid"`
}

// SceneInfo carries the payer's IP (required for H5).
type SceneInfo struct {
	PayerClientIP string  `json:"payer_client_ip"`
	H5Info        *H5Info `json:"h5_info,omitempty"`
}

// H5Info is the H5 scene.
type H5Info struct {
	Type string `json:"type"`
}

// PrepayRequest is the body of a Native / JSAPI / H5 order.
type PrepayRequest struct {
	AppID       string     `json:"appid"`
	MchID       string     `json:"mchid"`
	Description string     `json:"description"`
	OutTradeNo  string     `json:"out_trade_no"`
	TimeExpire  string     `json:"time_expire,omitempty"`
	Attach      string     `json:"attach,omitempty"`
	NotifyURL   string     `json:"notify_url"`
	Amount      Amount     `json:"amount"`
	Payer       *Payer     `json:"payer,omitempty"`
	SceneInfo   *SceneInfo `json:"scene_info,omitempty"`
}

// PrepayResponse is the answer of an order: one field per product.
type PrepayResponse struct {
	CodeURL  string `json:"code_url,omitempty"`
	PrepayID string `json:"prepay_id,omitempty"`
	H5URL    string `json:"h5_url,omitempty"`
}

// Transaction is a payment as query and callbacks show it.
type Transaction struct {
	AppID          string `json:"appid"`
	MchID          string `json:"mchid"`
	OutTradeNo     string `json:"out_trade_no"`
	TransactionID  string `json:"transaction_id,omitempty"`
	TradeType      string `json:"trade_type,omitempty"`
	TradeState     string `json:"trade_state"`
	TradeStateDesc string `json:"trade_state_desc,omitempty"`
	BankType       string `json:"bank_type,omitempty"`
	Attach         string `json:"attach,omitempty"`
	SuccessTime    string `json:"success_time,omitempty"`
	Payer          *Payer `json:"payer,omitempty"`
	Amount         Amount `json:"amount"`
}

// CloseRequest is the body of a close.
type CloseRequest struct {
	MchID string `json:"mchid"`
}

// RefundAmount is a refund's amounts in fen.
type RefundAmount struct {
	Refund      int64  `json:"refund"`
	Total       int64  `json:"total"`
	Currency    string `json:"currency"`
	PayerTotal  int64  `json:"payer_total,omitempty"`
	PayerRefund int64  `json:"payer_refund,omitempty"`
}

// RefundRequest is the body of a refund.
type RefundRequest struct {
	TransactionID string       `json:"transaction_id,omitempty"`
	OutTradeNo    string       `json:"out_trade_no,omitempty"`
	OutRefundNo   string       `json:"out_refund_no"`
	Reason        string       `json:"reason,omitempty"`
	NotifyURL     string       `json:"notify_url,omitempty"`
	Amount        RefundAmount `json:"amount"`
}

// Refund is a refund as the refund API, its query and (as refund_status) its callback show it.
type Refund struct {
	MchID         string       `json:"mchid,omitempty"` // callbacks only
	RefundID      string       `json:"refund_id"`
	OutRefundNo   string       `json:"out_refund_no"`
	TransactionID string       `json:"transaction_id"`
	OutTradeNo    string       `json:"out_trade_no"`
	Channel       string       `json:"channel,omitempty"`
	SuccessTime   string       `json:"success_time,omitempty"`
	CreateTime    string       `json:"create_time,omitempty"`
	Status        string       `json:"status,omitempty"`        // API answers
	RefundStatus  string       `json:"refund_status,omitempty"` // callbacks
	Amount        RefundAmount `json:"amount"`
}

// ErrorBody is an error answer.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Notification is a callback envelope.
type Notification struct {
	ID           string   `json:"id"`
	CreateTime   string   `json:"create_time"`
	EventType    string   `json:"event_type"`
	ResourceType string   `json:"resource_type"`
	Summary      string   `json:"summary"`
	Resource     Resource `json:"resource"`
}

// Resource is a callback's encrypted payload.
type Resource struct {
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
	OriginalType   string `json:"original_type"`
}

// BillResponse is the answer of the trade bill API.
type BillResponse struct {
	HashType    string `json:"hash_type"`
	HashValue   string `json:"hash_value"`
	DownloadURL string `json:"download_url"`
}
