package httpapi

import (
	"net/http"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/gateway"
	"github.com/paygw/paygw/internal/paygw"
)

func created(isNew bool) int {
	if isNew {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request, mid string) {
	var req gateway.CreatePayment
	if err := gateway.Decode(bodyOf(r.Context()), &req); err != nil {
		if nerr := s.g.UseNonce(r.Context(), nonceOf(r.Context())); nerr != nil {
			err = nerr // a replayed request is refused as a replay, whatever its body
		}
		s.fail(w, r, err)
		return
	}
	p, isNew, err := s.g.CreatePayment(r.Context(), mid, req, clientIP(r, s.hops), nonceOf(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, created(isNew), api.FromPayment(p))
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request, mid string) {
	p, err := s.g.GetPayment(r.Context(), mid, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.FromPayment(p))
}

func (s *Server) findPayment(w http.ResponseWriter, r *http.Request, mid string) {
	no := r.URL.Query().Get("out_trade_no")
	if no == "" {
		s.fail(w, r, paygw.Errorf(paygw.CodeInvalidRequest, "out_trade_no query parameter is required"))
		return
	}
	p, err := s.g.GetPaymentByOutTradeNo(r.Context(), mid, no)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.FromPayment(p))
}

func (s *Server) closePayment(w http.ResponseWriter, r *http.Request, mid string) {
	p, err := s.g.ClosePayment(r.Context(), mid, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.FromPayment(p))
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request, mid string) {
	var req gateway.CreateRefund
	if err := gateway.Decode(bodyOf(r.Context()), &req); err != nil {
		s.fail(w, r, err)
		return
	}
	ref, isNew, err := s.g.CreateRefund(r.Context(), mid, r.PathValue("id"), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, created(isNew), api.FromRefund(ref))
}

func (s *Server) getRefund(w http.ResponseWriter, r *http.Request, mid string) {
	ref, err := s.g.GetRefund(r.Context(), mid, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.FromRefund(ref))
}

func (s *Server) signAgreement(w http.ResponseWriter, r *http.Request, mid string) {
	var req gateway.SignAgreement
	if err := gateway.Decode(bodyOf(r.Context()), &req); err != nil {
		s.fail(w, r, err)
		return
	}
	a, isNew, err := s.g.SignAgreement(r.Context(), mid, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, created(isNew), api.FromAgreement(a))
}

func (s *Server) getAgreement(w http.ResponseWriter, r *http.Request, mid string) {
	a, err := s.g.GetAgreement(r.Context(), mid, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.FromAgreement(a))
}

func (s *Server) terminateAgreement(w http.ResponseWriter, r *http.Request, mid string) {
	a, err := s.g.TerminateAgreement(r.Context(), mid, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.FromAgreement(a))
}

func (s *Server) channelNotify(w http.ResponseWriter, r *http.Request) {
	s.g.HandleCallback(r.Context(), r.PathValue("channel"), r.Header, bodyOf(r.Context()), w)
}
