// wire_types.go: the registry of what crosses between nodes in cluster mode.

package actors

func init() {
	// The commands the engine sends to a tenant (see tenant.go).
	registerWire(
		&createTenant{}, &rotateCode{}, &describeTenant{}, &addEnterprise{}, &listEnterprises{},
		&linkUser{}, &unlinkUser{}, &startAddAccount{}, &submitFlowCode{}, &pollFlow{},
		&setFlowPassword{}, &resendFlowCode{}, &resendPromptCode{}, &addAwaitingAccount{},
		&bindAccount{}, &unbindAccount{}, &unbindEnterprise{}, &changeBinding{}, &setDefault{},
		&applyAdmin{}, &stepDown{}, &deleteAccount{}, &unlockAccount{}, &startReset{},
		&updatePassword{}, &requestSession{}, &awaitRequest{}, &answerCode{}, &showPrompt{},
		&recordSubscription{}, &startQRLogin{}, &pollQRLogin{}, &confirmCertification{},
		&reportInvalid{}, &listAccounts{}, &passivateAll{}, &reportUndeliverable{},
	)
	// Their replies.
	registerWire(
		ok{}, &FlowReply{}, &PromptStatus{}, &QRView{}, &SessionReply{}, &TenantInfo{},
		EnterpriseView{}, []AccountView{}, []EnterpriseView{}, 0, "",
	)
}
