package wechatpay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/sandbox"
)

// Key set file names (KeySet, the simulator's key directory).
const (
	FileMerchantKey    = "apiclient_key.pem"         // merchant API private key (gateway)
	FileMerchantPub    = "apiclient_pub.pem"         // its public half (simulator: verifies requests)
	FilePublicKey      = "pub_key.pem"               // WeChat Pay public key (gateway: verifies answers)
	FileSimulatorKey   = "wechatpay_private_key.pem" // its private half (simulator only)
	FileAPIv3Key       = "apiv3_key"                 // 32 bytes, both sides
	FileSimulatorIDs   = "simulator.json"            // mchid, appid, serials
	defaultMchID       = "1900000109"
	defaultAppID       = "wxd678efh567hg6787"
	simulatorKeyLength = 2048
)

// IDs are the identities shared by the gateway's config and the simulator.
type IDs struct {
	MchID            string `json:"mchid"`
	AppID            string `json:"appid"`
	MerchantSerialNo string `json:"merchant_serial_no"`
	PublicKeyID      string `json:"wechatpay_public_key_id"`
}

func init() {
	sandbox.RegisterProtocol(Kind, sandbox.Protocol{New: newFront, Keygen: Keygen})
}

// Keygen writes a matching key set into dir (created 0700; private keys 0600): the merchant's
// API key pair, a WeChat Pay public key pair of the simulator's own, an APIv3 key and the ids.
func Keygen(dir string, in sandbox.KeygenInput) (sandbox.KeySet, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return sandbox.KeySet{}, fmt.Errorf("keygen: %w", err)
	}
	merchant, err := rsa.GenerateKey(rand.Reader, simulatorKeyLength)
	if err != nil {
		return sandbox.KeySet{}, fmt.Errorf("keygen: %w", err)
	}
	platform, err := rsa.GenerateKey(rand.Reader, simulatorKeyLength)
	if err != nil {
		return sandbox.KeySet{}, fmt.Errorf("keygen: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 160))
	keyNo, _ := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(28), nil))
	ids := IDs{MchID: defaultMchID, AppID: defaultAppID, MerchantSerialNo: strings.ToUpper(fmt.Sprintf("%040x", serial)),
		PublicKeyID: fmt.Sprintf("PUB_KEY_ID_%028d", keyNo)}
	idj, _ := json.MarshalIndent(ids, "", "  ")
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{FileMerchantKey, EncodePrivateKey(merchant), 0o600},
		{FileMerchantPub, EncodePublicKey(&merchant.PublicKey), 0o644},
		{FilePublicKey, EncodePublicKey(&platform.PublicKey), 0o644},
		{FileSimulatorKey, EncodePrivateKey(platform), 0o600},
		{FileAPIv3Key, []byte(Nonce(32)), 0o600},
		{FileSimulatorIDs, append(idj, '\n'), 0o644},
	}
	var ks sandbox.KeySet
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return sandbox.KeySet{}, fmt.Errorf("keygen: %w", err)
		}
		ks.Files = append(ks.Files, p)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	name := in.Channel
	if name == "" {
		name = "wxpay"
	}
	url := in.SimulatorURL
	if url == "" {
		url = "http://127.0.0.1:9091"
	}
	ks.GatewayConfig = fmt.Sprintf(`%s:
  kind: wechatpay
  url: %s
  mchid: "%s"
  appid: "%s"
  merchant_serial_no: "%s"
  merchant_private_key_file: %s
  wechatpay_public_key_id: %s
  wechatpay_public_key_file: %s
  apiv3_key_file: %s
  pay_methods: [wallet_qr, wallet_h5, wallet_jsapi]
  fee_rate_bps: 60
`, name, url, ids.MchID, ids.AppID, ids.MerchantSerialNo, filepath.Join(abs, FileMerchantKey), ids.PublicKeyID,
		filepath.Join(abs, FilePublicKey), filepath.Join(abs, FileAPIv3Key))
	ks.SimulatorFlags = fmt.Sprintf("--protocol wechatpay --keys %s --channel-name %s --fee-rate-bps 60", abs, name)
	return ks, nil
}

// LoadSimulatorKeys reads a key directory written by Keygen into simulator options.
func LoadSimulatorKeys(dir string, o *SimOptions) error {
	b, err := os.ReadFile(filepath.Join(dir, FileSimulatorIDs))
	if err != nil {
		return fmt.Errorf("wechatpay simulator keys: %w", err)
	}
	var ids IDs
	if err := json.Unmarshal(b, &ids); err != nil {
		return fmt.Errorf("wechatpay simulator keys: %s: %v", FileSimulatorIDs, err)
	}
	if ids.MchID == "" || ids.AppID == "" || ids.MerchantSerialNo == "" || ids.PublicKeyID == "" {
		return errors.New("wechatpay simulator keys: " + FileSimulatorIDs + " needs mchid, appid, merchant_serial_no and wechatpay_public_key_id")
	}
	o.MchID, o.AppID, o.MerchantSerialNo, o.PublicKeyID = ids.MchID, ids.AppID, ids.MerchantSerialNo, ids.PublicKeyID
	if o.MerchantPublicKey, err = ReadPublicKey(filepath.Join(dir, FileMerchantPub)); err != nil {
		return fmt.Errorf("wechatpay simulator keys: %w", err)
	}
	if o.PrivateKey, err = ReadPrivateKey(filepath.Join(dir, FileSimulatorKey)); err != nil {
		return fmt.Errorf("wechatpay simulator keys: %w", err)
	}
	if o.APIv3Key, err = ReadAPIv3Key(filepath.Join(dir, FileAPIv3Key)); err != nil {
		return fmt.Errorf("wechatpay simulator keys: %w", err)
	}
	return nil
}

func newFront(dir string, core sandbox.Options, publicURL string) (sandbox.Front, error) {
	o := SimOptions{Core: core, PublicURL: publicURL, Logger: core.Logger}
	if err := LoadSimulatorKeys(dir, &o); err != nil {
		return nil, err
	}
	return NewSimulator(o)
}

// InjectAt asks a simulator at baseURL to falsify its bill (sandbox.Injection), signing the
// request with the merchant key of the key directory, as every API call is signed.
func InjectAt(ctx context.Context, baseURL, keyDir string, in sandbox.Injection) error {
	var o SimOptions
	if err := LoadSimulatorKeys(keyDir, &o); err != nil {
		return err
	}
	mk, err := ReadPrivateKey(filepath.Join(keyDir, FileMerchantKey))
	if err != nil {
		return err
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/admin/inject", bytes.NewReader(body))
	if err != nil {
		return err
	}
	auth, err := Authorization(mk, o.MchID, o.MerchantSerialNo, req.Method, req.URL.RequestURI(), time.Now(), Nonce(32), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("wechatpay simulator inject: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("wechatpay simulator inject: %d %s", resp.StatusCode, b)
	}
	return nil
}
